/**
 * Draining a native server (Bun.serve, Deno.serve), whose stop closes idle
 * keep-alive connections at once: a client sending its next request on one
 * just then gets a reset. So the drain first answers every request with
 * `Connection: close` until the connections have gone quiet (no request for
 * QUIET_MS, at most NOTICE_MS), and only then stops the server.
 */
import { isSwitchingProtocols } from "../../src/http/app-handler.ts";
import { isHealthAnswer } from "../../src/http/health.ts";
import { closing } from "./closing.ts";

const QUIET_MS = 250;
const NOTICE_MS = 2000;
const POLL_MS = 25;

/** Wraps a native server's handler with the drain's state. */
export class NativeDrain {
  draining = false;
  #lastRequest = 0;
  /** Requests whose app has not answered yet (async ones: a sync answer is never in flight). */
  #inFlight = 0;

  /** Called with every response; cheap while not draining. */
  respond(result: Response | Promise<Response>): Response | Promise<Response> {
    // A response finished after the drain began is the last on its connection.
    if (result instanceof Promise) {
      this.#inFlight++;
      return result.then((response) => {
        this.#inFlight--;
        return this.draining ? this.#close(response) : response;
      }, (error: unknown) => {
        this.#inFlight--;
        throw error;
      });
    }
    return this.draining ? this.#close(result) : result;
  }

  /**
   * Resolves once every request in flight has its answer: Deno.serve's shutdown resets HTTP/2 streams
   * still waiting for one (GOAWAY, then RST_STREAM CANCEL), where it lets HTTP/1.1 requests finish.
   */
  answered(): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const poll = setInterval(() => {
        if (this.#inFlight > 0) return;
        clearInterval(poll);
        resolve();
      }, POLL_MS);
    });
  }

  #close(response: Response): Response {
    // A balancer's health checks (every 200 ms, say) are no traffic to wait out: the 503 they get is
    // what takes this instance out.
    if (!isHealthAnswer(response)) this.#lastRequest = Date.now();
    // A WebSocket handshake's connection is the app's now: nothing to add to an answer Bun sends itself.
    if (isSwitchingProtocols(response)) return response;
    return closing(response);
  }

  /** Begins the drain; resolves when it is time to stop the server. */
  quiet(): Promise<void> {
    this.draining = true;
    const started = Date.now();
    this.#lastRequest = started;
    return new Promise((resolve) => {
      const poll = setInterval(() => {
        const now = Date.now();
        if (now - this.#lastRequest >= QUIET_MS || now - started >= NOTICE_MS) {
          clearInterval(poll);
          resolve();
        }
      }, POLL_MS);
    });
  }
}
