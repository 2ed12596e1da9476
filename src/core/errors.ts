/** Errors that Sous reports to people: each has a code and says what was wrong and where. */

/** A place in a source file. */
export interface SourceLocation {
  file: string;
  line: number;
  column?: number;
}

/** Formats a location as `file:line`. */
export function formatLocation(location: SourceLocation | undefined): string {
  return location ? `${location.file}:${location.line}` : "(unknown location)";
}

/** One problem found while validating, with the path of what was wrong. */
export interface Problem {
  /** e.g. `file[/etc/motd].mode` */
  path: string;
  message: string;
  location?: SourceLocation;
}

/** Formats a problem as `file:line path: message`. */
export function formatProblem(problem: Problem): string {
  const where = problem.location ? `${formatLocation(problem.location)} ` : "";
  return `${where}${problem.path}: ${problem.message}`;
}

/** An error a person can act on; `code` is stable for scripts. */
export class SousError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details: { problems?: Problem[]; location?: SourceLocation; cause?: unknown } = {},
  ) {
    super(message);
    this.name = "SousError";
  }
}

/** A command used wrongly (bad flags or arguments): exit status 2. */
export class UsageError extends SousError {
  constructor(message: string) {
    super("usage", message);
  }
}

/** Several problems reported together (validation of a whole run, a cookbook...). */
export class ValidationError extends SousError {
  constructor(
    readonly problems: Problem[],
    heading = `${problems.length} problem${problems.length === 1 ? "" : "s"} found`,
  ) {
    super("validation", `${heading}:\n${problems.map((p) => `  ${formatProblem(p)}`).join("\n")}`, { problems });
    this.name = "ValidationError";
  }
}

/** The message of any thrown value. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
