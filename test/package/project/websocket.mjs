// unicorn's upgradeWebSocket from the installed package: one app for every runtime and engine.
import { upgradeWebSocket } from "unicorn-http";

export default {
  fetch(request) {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return new Response("hello\n");
    const { socket, response } = upgradeWebSocket(request);
    socket.onopen = () => socket.send("welcome");
    socket.onmessage = (event) => socket.send(`echo ${event.data}`);
    return response;
  },
};
