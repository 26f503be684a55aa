/** The benchmark app: the same bytes as the bare servers answer. Plain JS, so Node needs no TypeScript loader. */
export default {
  fetch() {
    return new Response("Hello, World!", { headers: { "content-type": "text/plain" } });
  },
};
