/** A host wrapper for tests that assert which commands a provider ran. */
import type { Host } from "../../src/host/host.js";

/** Wraps `host` so that every argv it executes is recorded, in order, in `commands`. */
export function recordingHost(host: Host): { host: Host; commands: string[][] } {
  const commands: string[][] = [];
  const recorder = new Proxy(host, {
    get(target, property, receiver) {
      if (property === "exec") return (command: readonly string[], options?: object) => (commands.push([...command]), target.exec(command, options));
      const value = Reflect.get(target, property, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { host: recorder, commands };
}
