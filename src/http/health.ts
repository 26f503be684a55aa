/**
 * `--health-path`, answered by unicorn in each worker before anything else (not logged, not counted,
 * never the app's): PATH is readiness, 200 while the worker takes requests and 503 once the server
 * stops (a graceful stop, --shutdown-delay); a worker that leaves alone (a reload, a recycle, a scale
 * down) still says 200, the server going on. PATH/live is liveness, 200 whenever the worker answers.
 */

/** The answer to a request for `path`, or undefined when it is not the health path's. */
export function healthReply(path: string, healthPath: string, ready: () => boolean): { status: number; body: string } | undefined {
  if (path === `${healthPath}/live`) return { status: 200, body: "ok\n" };
  if (path !== healthPath) return undefined;
  return ready() ? { status: 200, body: "ok\n" } : { status: 503, body: "stopping\n" };
}

const HEALTH = new WeakSet<Response>();

/** Notes `response` as a health answer: a draining engine does not take a balancer's checks for traffic. */
export function markHealth(response: Response): Response {
  HEALTH.add(response);
  return response;
}

/** Whether `response` answered the health path. */
export function isHealthAnswer(response: Response): boolean {
  return HEALTH.has(response);
}
