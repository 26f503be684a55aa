/** The smallest app: `npx unicorn examples/hello.ts -w 2`. */
export default {
  fetch(request: Request): Response {
    return new Response(`Hello from ${new URL(request.url).pathname}\n`);
  },
};
