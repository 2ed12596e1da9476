/** The private networks of test hosts: the product's (src/machine/network.ts), for the tests that import them from here. */
export * from "../../src/machine/network.js";
