// The boolean operators of a query, checked before the `lucene` parser sees it: that parser
// drops an operator with nothing on one side (`role:web AND`, `role:web AND OR role:db`, a bare
// `NOT`), which would answer a mistyped query with a broader result. Chef refuses these (400), and
// so does Sous, naming the operator and its position.
import { badRequest } from "../errors.js";

type Kind = "operand" | "open" | "close" | "binary" | "not";

interface Token {
  kind: Kind;
  text: string;
  /** 1-based position of the token's first character. */
  position: number;
}

const BINARY = new Set(["AND", "OR", "&&", "||"]);
const UNARY = new Set(["NOT", "!", "-", "+"]);

/** Splits a query into operands (terms, phrases, ranges, `field:` before a group), parentheses and operators. */
function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    if (ch === "(" || ch === ")") {
      tokens.push({ kind: ch === "(" ? "open" : "close", text: ch, position: i + 1 });
      i++;
      continue;
    }
    const start = i;
    while (i < text.length && !/\s/.test(text[i]!) && text[i] !== ")") {
      const c = text[i]!;
      // A group starts here (`field:(a OR b)` included: the group is the field's operand).
      if (c === "(") break;
      if (c === "\\") i += 2;
      else if (c === '"') {
        i++;
        while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
        i++;
      } else if ((c === "[" || c === "{") && (i === start || text[i - 1] === ":")) {
        // A range: its spaces and its TO belong to it.
        while (i < text.length && text[i] !== "]" && text[i] !== "}") i += text[i] === "\\" ? 2 : 1;
        i++;
      } else i++;
    }
    const word = text.slice(start, i);
    // `field:` before its group adds nothing to check: the group that follows is the operand.
    if (word.endsWith(":") && text[i] === "(") continue;
    tokens.push({ kind: BINARY.has(word) ? "binary" : UNARY.has(word) ? "not" : "operand", text: word, position: start + 1 });
  }
  return tokens;
}

function describe(token: Token): string {
  return `'${token.text}' at position ${token.position}`;
}

/**
 * Throws a 400 when an operator has nothing to work on: AND / OR / && / || need an operand on
 * both sides, NOT / ! / - / + one after them (so a bare `NOT` is an error, not "every node").
 */
export function checkOperators(text: string): void {
  let previous: Token | undefined;
  const fail = (message: string): never => {
    throw badRequest("bad_query", `search query: ${message}`);
  };
  for (const token of tokenize(text)) {
    const open = previous === undefined || previous.kind === "open";
    const pending = previous !== undefined && (previous.kind === "binary" || previous.kind === "not") ? previous : undefined;
    if (token.kind === "binary") {
      if (pending) fail(`${describe(token)} follows the operator ${describe(pending)}; each operator needs a term on both sides`);
      if (open) fail(`${describe(token)} has nothing before it`);
    } else if (token.kind === "not") {
      if (pending?.kind === "not") fail(`${describe(token)} follows the operator ${describe(pending)}; write one NOT`);
    } else if (token.kind === "close") {
      if (pending) fail(`${describe(pending)} has nothing after it (the group closes at position ${token.position})`);
    }
    previous = token;
  }
  if (previous && (previous.kind === "binary" || previous.kind === "not")) fail(`${describe(previous)} has nothing after it`);
}
