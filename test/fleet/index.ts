/** The SSH test fleet for node:test files: started on first use, torn down after the file's tests (also when they fail). */
import { after } from "node:test";
import { type Fleet, startFleet } from "./fleet.js";

export { type Fleet, type FleetHost, fleetUnavailable, startFleet } from "./fleet.js";

/** Registers the teardown now and returns a function that starts the fleet once and gives it to every caller. */
export function useFleet(count: number): () => Promise<Fleet> {
  let starting: Promise<Fleet> | undefined;
  after(async () => (await starting?.catch(() => undefined))?.stop());
  return () => (starting ??= startFleet({ count }));
}
