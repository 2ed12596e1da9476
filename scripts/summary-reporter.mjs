// A test reporter that prints one closing line, "N passed, N failed, N skipped", after the
// list of what was skipped and why: a skipped suite (describe) counts as one skipped, with its
// reason, so that a run that tested nothing over SSH says so.
import { relative } from "node:path";

function where(file) {
  const path = relative(process.cwd(), file);
  return path.startsWith("..") ? file : path;
}

/** Counts the run's tests (a skipped suite as one skipped) and ends with the summary line. */
export default async function* summary(source) {
  let passed = 0;
  let failed = 0;
  const skipped = [];
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    const data = event.data;
    const isSuite = data.details?.type === "suite";
    if (data.skip || data.todo) {
      if (event.type === "test:pass") {
        const reason = typeof data.skip === "string" ? data.skip : typeof data.todo === "string" ? `todo: ${data.todo}` : data.todo ? "todo" : "no reason given";
        skipped.push(`  ${isSuite ? "suite" : "test"} "${data.name}"${data.file ? ` (${where(data.file)})` : ""}: ${reason}`);
        continue;
      }
    }
    // A suite that ran is counted through its tests (a failing suite also through its own failure: a hook or its body threw).
    if (isSuite && event.type === "test:pass") continue;
    if (event.type === "test:fail") {
      if (isSuite && data.details?.error?.failureType === "subtestsFailed") continue;
      failed += 1;
    } else passed += 1;
  }
  const list = skipped.length ? `\nskipped:\n${skipped.join("\n")}\n` : "";
  yield `${list}\n${passed} passed, ${failed} failed, ${skipped.length} skipped\n`;
}
