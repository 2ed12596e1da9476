/** LocalHost against the shared Host contract. */
import { LocalHost } from "../../src/host/local.js";
import { scratch } from "../helpers.js";
import { hostContract } from "./contract.js";

const dir = scratch("sous-local-host-");
const host = new LocalHost();
hostContract("LocalHost", () => ({ host, dir }), { skip: process.getuid?.() !== 0 ? "needs root (chown and running as another user)" : false });
