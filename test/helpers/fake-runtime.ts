/** An in-memory runtime for the arbiter's unit tests: a hand-moved clock and scripted workers. */
import type { BindAddress } from "../../src/config/bind.ts";
import type { Channel, Runtime, SignalName, SpawnSpec, WorkerProcess } from "../../src/runtime.ts";
import type { Message } from "../../src/messages.ts";

export class FakeWorker implements WorkerProcess {
  readonly pid: number;
  readonly spec: SpawnSpec;
  readonly signals: SignalName[] = [];
  #exit: ((code: number | null, signal: string | null) => void) | undefined;
  exited = false;
  constructor(pid: number, spec: SpawnSpec) {
    this.pid = pid;
    this.spec = spec;
  }
  kill(signal: SignalName): void {
    this.signals.push(signal);
  }
  onExit(listener: (code: number | null, signal: string | null) => void): void {
    this.#exit = listener;
  }
  /** The process ends. */
  exit(code: number | null, signal: string | null = null): void {
    this.exited = true;
    this.#exit?.(code, signal);
  }
}

export class FakeRuntime implements Runtime {
  readonly name = "node" as const;
  readonly version = "0.0.0";
  readonly pid = 1;
  readonly capabilities = {
    sharedListeners: true,
    reusePort: true,
    engines: { node: "fake node:http", native: "fake native" },
    defaultEngine: "node" as const,
    tls: { ciphers: true, clientCertificates: true },
    acceptSurvivesEmfile: true,
  };
  now = 100;
  nextPid = 1000;
  readonly spawned: FakeWorker[] = [];
  readonly handlers = new Map<SignalName, () => void>();
  readonly errors: string[] = [];
  onChannel: ((channel: Channel) => void) | undefined;

  /** The arbiter's environment variables. */
  environment: Record<string, string> = {};
  /** The arbiter's parent pid, as `parentPid()` reports it. */
  ppid = 0;
  env() {
    return this.environment;
  }
  args() {
    return [];
  }
  cwd() {
    return "/app";
  }
  writeError(line: string) {
    this.errors.push(line);
  }
  guardOutput() {}
  writeOut(text: string) {
    this.errors.push(text);
  }
  exit(code: number): never {
    throw new Error(`exit ${code}`);
  }
  onSignal(signal: SignalName, handler: () => void) {
    this.handlers.set(signal, handler);
  }
  onUncaught() {}
  /** Pids `kill(pid, 0)` finds alive; undefined: every pid. */
  livePids: Set<number> | undefined;
  kill(pid: number, signal: SignalName | 0) {
    return signal !== 0 || this.livePids === undefined || this.livePids.has(pid);
  }
  monotonic() {
    return this.now;
  }
  bindShared(address: BindAddress) {
    return Promise.resolve({ address, fd: 10, close() {} });
  }
  probePort(address: BindAddress & { kind: "tcp" }) {
    return Promise.resolve(address.port || 4242);
  }
  /** The `unicorn ctl` socket's path and its listener, once the arbiter listens there. */
  ctlPath: string | undefined;
  onCtl: ((channel: Channel<unknown>) => void) | undefined;
  listenControl<T = Message>(path: string, onChannel: (channel: Channel<T>) => void) {
    if (path.endsWith("/control.sock")) this.onChannel = onChannel as unknown as (channel: Channel) => void;
    else {
      this.ctlPath = path;
      this.onCtl = onChannel as unknown as (channel: Channel<unknown>) => void;
    }
    return Promise.resolve({ close: () => Promise.resolve() });
  }
  runtimeFolder() {
    return { path: "/run/user/1000", shared: false };
  }
  uid() {
    return 1000;
  }
  makePrivateFolder() {}
  chmod() {}
  pathKind(path: string): "socket" | undefined {
    return this.files.has(path) ? "socket" : undefined;
  }
  removeFile(path: string) {
    this.removed.push(path);
    this.files.delete(path);
  }
  listFolder() {
    return [];
  }
  readonly titles: string[] = [];
  setTitle(title: string) {
    this.titles.push(title);
    return true;
  }
  readonly datagrams: string[] = [];
  sendUdp(_host: string, _port: number, data: string) {
    this.datagrams.push(data);
  }
  serveHttp() {
    return Promise.resolve({ close: () => Promise.resolve(), port: 9100 });
  }
  listenQueue() {
    return undefined;
  }
  spawnWorker(spec: SpawnSpec): WorkerProcess {
    const worker = new FakeWorker(this.nextPid++, spec);
    this.spawned.push(worker);
    return worker;
  }
  makeTempDir(prefix: string) {
    return `/tmp/${prefix}fake`;
  }
  namespace: string | undefined = "4026531836";
  pidNamespace() {
    return this.namespace;
  }
  /** Temp folders `tempDirs` lists; `removed` records what the arbiter removed. */
  readonly temps: string[] = [];
  readonly removed: string[] = [];
  tempDirs(prefix: string) {
    return this.temps.filter((t) => t.startsWith(`/tmp/${prefix}`));
  }
  removePath(path: string) {
    this.removed.push(path);
    this.files.delete(path);
  }
  connectControl<T = Message>(): Promise<Channel<T>> {
    return Promise.reject(Object.assign(new Error("nothing listens"), { code: "ENOENT" }));
  }
  serve(): never {
    throw new Error("not in the arbiter");
  }
  importModule(): never {
    throw new Error("not in the arbiter");
  }
  resolvePath(base: string, path: string) {
    return `${base}/${path}`;
  }
  fileFromUrl(url: string) {
    return decodeURIComponent(new URL(url).pathname);
  }
  fileExists(path: string) {
    // No control socket is left over from an earlier run, unless a test says so.
    return !path.endsWith(".ctl") || this.files.has(path);
  }
  readTextFile(path: string): string | undefined {
    return this.files.get(path);
  }
  writeTextFile(path: string, text: string) {
    this.files.set(path, text);
  }
  openLogFile() {
    return { write() {}, reopen() {} };
  }
  chown() {}
  readonly notified: string[][] = [];
  notify(fields: readonly string[]) {
    this.notified.push([...fields]);
  }
  notifyDone() {
    return Promise.resolve();
  }
  watchSources() {
    return () => {};
  }
  setUmask() {}
  parentPid() {
    return this.ppid;
  }
  openFileLimit() {
    return undefined;
  }
  descriptorsExhausted() {
    return false;
  }
  acceptQueue() {
    return undefined;
  }
  memoryRss() {
    return 0;
  }
  readonly files = new Map<string, string>();

  /** Workers not yet exited. */
  get live(): FakeWorker[] {
    return this.spawned.filter((w) => !w.exited);
  }

  /** Connects a fake worker's channel and returns a function to send its messages. */
  connect(worker: FakeWorker): (message: Message) => void {
    let listener: ((message: Message) => void) | undefined;
    this.onChannel!({
      send() {},
      end: () => Promise.resolve(),
      onMessage: (l) => (listener = l),
      onClose() {},
      close() {},
    });
    const send = (message: Message) => listener!(message);
    send({ type: "hello", id: 0, pid: worker.pid });
    return send;
  }
}
