/**
 * A factory, called once in each worker: `npx unicorn 'examples/factory.ts:create()'`.
 * Open connections or read configuration here; a throw stops the server with exit code 3.
 */
export async function create(): Promise<(request: Request) => Response> {
  const bootedAt = new Date().toISOString();
  await Promise.resolve();
  return () => new Response(`worker booted at ${bootedAt}\n`);
}
