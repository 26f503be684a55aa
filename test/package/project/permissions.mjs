// Reports the Deno permissions the worker runs with.
export default {
  fetch: () =>
    new Response(["net", "read", "ffi"].map((name) => `${name}=${Deno.permissions.querySync({ name }).state}`).join(" ")),
};
