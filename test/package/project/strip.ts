// TypeScript that Node's own type stripping runs as it is.
import { greet } from "./greet.ts";

export default {
  fetch: (_request: Request): Response => new Response(`${greet()} stripped`),
};
