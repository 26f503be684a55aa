/** unicorn's version, kept equal to package.json and deno.json by `scripts/check-boundaries.mjs`. */
export const VERSION = "0.1.0";
