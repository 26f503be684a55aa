/**
 * The arbiter's end of `unicorn ctl`: a unix socket (mode --control-socket-mode, 0600 by default, in a
 * folder only its owner may enter) that answers the requests of src/ctl/protocol.ts. Reading commands
 * are answered at once; commands that change the server run in the arbiter's loop, between signals.
 */
import { ExitCode, messageOf, UnicornError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import type { Channel, ControlServer, Runtime } from "../runtime.ts";
import {
  type CtlReply,
  type CtlRequest,
  PROTOCOL_VERSION,
  type ReloadOutcome,
  type StatsReply,
  type StatusReply,
  type WorkersReply,
} from "../ctl/protocol.ts";

/** What the control socket can ask of the arbiter. */
export interface Controllable {
  status(): StatusReply;
  workers(): WorkersReply;
  stats(): StatsReply;
  config(): Array<{ name: string; value: string; source: string }>;
  metrics(): string;
  /** Keeps `count` workers; resolves with the number kept. */
  scale(count: number): Promise<number>;
  /** Stops one worker gracefully (it is replaced); throws when no worker has this pid. */
  kill(pid: number): void;
  reload(): Promise<ReloadOutcome>;
  reopen(): void;
  stop(quick: boolean): void;
}

type Message = CtlRequest | CtlReply;

/** How long a client may take to send its request, in ms. */
const REQUEST_DEADLINE_MS = 5000;
/** The longest request line taken. */
const MAX_REQUEST = 64 * 1024;
/** Connections served at once; more are closed at once (a client that floods cannot starve the arbiter). */
const MAX_CONNECTIONS = 32;

function wholeNumber(args: Readonly<Record<string, unknown>> | undefined, name: string, min: number): number {
  const value = args?.[name];
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    throw new Error(`"${name}" must be a whole number of at least ${min}`);
  }
  return value;
}

export class ControlSocket {
  readonly path: string;
  readonly #runtime: Runtime;
  readonly #log: Logger;
  readonly #target: Controllable;
  #server: ControlServer | undefined;
  #open = 0;

  constructor(runtime: Runtime, log: Logger, path: string, target: Controllable) {
    this.#runtime = runtime;
    this.#log = log;
    this.path = path;
    this.#target = target;
  }

  /**
   * Listens at the path, in a private folder when `folder` is given. A socket left by a server that is
   * gone is replaced; one a live server answers is an error, unless `takeOver` (a USR2 successor).
   */
  async open(mode: number, folder: string | undefined, takeOver: boolean): Promise<void> {
    const runtime = this.#runtime;
    const path = this.path;
    const cannot = (why: string) =>
      new UnicornError(`Cannot create the control socket "${path}": ${why}; or start with --no-control-socket`, ExitCode.USAGE);
    try {
      if (folder) runtime.makePrivateFolder(folder);
    } catch (error) {
      throw cannot(messageOf(error));
    }
    const kind = runtime.pathKind(path);
    if (kind !== undefined && kind !== "socket") {
      throw cannot(`a ${kind} is there, not a socket; name a path for the socket itself`);
    }
    if (kind === "socket") {
      let alive = false;
      try {
        (await runtime.connectControl<Message>(path)).close();
        alive = true;
      } catch {
        // Nobody answers: a socket left by an arbiter that died.
      }
      if (alive && !takeOver) {
        throw cannot("another unicorn answers there; stop it, or give this one another --name or --control-socket");
      }
      runtime.removeFile(path);
    }
    try {
      this.#server = await runtime.listenControl<Message>(path, (channel) => this.#serve(channel), { maxLine: MAX_REQUEST });
      runtime.chmod(path, mode);
    } catch (error) {
      throw cannot(messageOf(error));
    }
    this.#log.info(`Control socket: ${path}`);
  }

  /** Stops listening; the path is removed unless a successor arbiter now serves it. */
  async close(removePath: boolean): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    // The path first, at once (the process may exit before a client still connected lets the server close);
    // only a socket: never what may have replaced it.
    if (removePath && this.#runtime.pathKind(this.path) === "socket") this.#runtime.removeFile(this.path);
    await server.close();
  }

  #serve(channel: Channel<Message>): void {
    if (this.#open >= MAX_CONNECTIONS) return channel.close();
    this.#open++;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      this.#open--;
    };
    // A client that connects and says nothing does not hold a descriptor for long.
    const timer = setTimeout(() => {
      finish();
      channel.close();
    }, REQUEST_DEADLINE_MS);
    channel.onClose(finish);
    let answered = false;
    channel.onMessage((message) => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      void this.#answer(message as CtlRequest).then(async (reply) => {
        channel.send(reply);
        await channel.end();
        finish();
      });
    });
  }

  async #answer(request: CtlRequest): Promise<CtlReply> {
    if (request?.v !== PROTOCOL_VERSION) {
      return { v: PROTOCOL_VERSION, ok: false, error: `protocol version ${request?.v} is not ${PROTOCOL_VERSION}: use the unicorn ctl of this server's version` };
    }
    try {
      return { v: PROTOCOL_VERSION, ok: true, data: await this.#run(request) };
    } catch (error) {
      return { v: PROTOCOL_VERSION, ok: false, error: messageOf(error) };
    }
  }

  async #run({ command, args }: CtlRequest): Promise<unknown> {
    const target = this.#target;
    switch (command) {
      case "status":
        return target.status();
      case "workers":
        return target.workers();
      case "stats":
        return target.stats();
      case "config":
        return target.config();
      case "metrics":
        return target.metrics();
      case "scale":
        return { workers: await target.scale(wholeNumber(args, "workers", 1)) };
      case "add":
        return { workers: await target.scale(target.status().workers + wholeNumber(args, "count", 1)) };
      case "remove": {
        const workers = target.status().workers - wholeNumber(args, "count", 1);
        if (workers < 1) throw new Error(`cannot go below 1 worker (${target.status().workers} now)`);
        return { workers: await target.scale(workers) };
      }
      case "kill": {
        const pid = wholeNumber(args, "pid", 1);
        target.kill(pid);
        return { pid };
      }
      case "reload":
        return target.reload();
      case "reopen":
        target.reopen();
        return {};
      case "stop":
        target.stop(args?.quick === true);
        return { quick: args?.quick === true };
      default:
        throw new Error(`unknown command "${command}"`);
    }
  }
}
