// A JavaScript app, an ES module whatever the package says.
export default {
  fetch: (request) => new Response(`js ${new URL(request.url).pathname}`),
};
