/** The benchmark app: the same bytes as the bare servers answer. */
export default {
  fetch(): Response {
    return new Response("Hello, World!", { headers: { "content-type": "text/plain" } });
  },
};
