/**
 * The app the Dockerfiles beside this file package: replace it with yours. unicorn answers
 * --health-path (/healthz, /healthz/live) itself, before the app sees a request.
 */
export default {
  fetch(request: Request): Response {
    const { pathname } = new URL(request.url);
    return Response.json({ hello: pathname });
  },
};
