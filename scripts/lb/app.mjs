// The app behind the load balancer: GET answers at once, POST reads its body and answers its length.
export default {
  async fetch(request) {
    if (request.method === "POST") {
      const body = await request.arrayBuffer();
      return new Response(`got ${body.byteLength}\n`);
    }
    // Which instance answered: the script waits until the balancer sends to a restarted one again.
    return new Response(`ok ${process.env.LB_INSTANCE ?? ""}\n`);
  },
};
