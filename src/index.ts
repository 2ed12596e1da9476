/** Sous: infrastructure as TypeScript code. The public API for recipes and tools. */
export const VERSION = "0.1.0";
