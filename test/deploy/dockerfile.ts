/**
 * Reads a Dockerfile into the facts an image is made of: the instructions a build runs, and the
 * user, environment, health check and command the container starts with. Only the instructions the
 * examples use are known; any other is an error, so a Dockerfile the tests cannot follow fails them.
 */

export interface Instruction {
  keyword: string;
  /** The text after the keyword, continuation lines joined. */
  args: string;
  /** Where it starts in the file (1-based), for failure messages. */
  line: number;
}

export interface HealthCheck {
  options: Record<string, string>;
  command: string[];
}

export interface Image {
  from: string;
  instructions: Instruction[];
  env: Record<string, string>;
  workdir: string;
  user?: string;
  expose: string[];
  stopSignal?: string;
  healthcheck?: HealthCheck;
  /** undefined when not written in exec form (a JSON array): the tests require exec form. */
  entrypoint?: string[];
  cmd?: string[];
  /** The raw text of ENTRYPOINT and CMD, to tell shell form from exec form. */
  raw: { entrypoint?: string; cmd?: string };
}

const KNOWN = new Set(["FROM", "RUN", "ENV", "WORKDIR", "COPY", "USER", "EXPOSE", "STOPSIGNAL", "HEALTHCHECK", "ENTRYPOINT", "CMD"]);

/** Instructions in order: comments dropped, `\` continuations joined, as Docker's parser does. */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let current: { text: string; line: number } | undefined;
  text.split("\n").forEach((raw, index) => {
    const line = raw.trimEnd();
    // Docker drops comment lines even inside a continued instruction.
    if (/^\s*#/.test(line) || (!current && line.trim() === "")) return;
    const continued = line.endsWith("\\");
    const body = continued ? line.slice(0, -1) : line;
    current = current ? { ...current, text: `${current.text} ${body.trim()}` } : { text: body.trim(), line: index + 1 };
    if (continued) return;
    const [, keyword = "", args = ""] = /^(\S+)\s*(.*)$/.exec(current.text) ?? [];
    if (!KNOWN.has(keyword.toUpperCase())) throw new Error(`line ${current.line}: unknown instruction ${keyword}`);
    out.push({ keyword: keyword.toUpperCase(), args: args.trim(), line: current.line });
    current = undefined;
  });
  if (current) throw new Error(`line ${current.line}: the file ends inside a continued instruction`);
  return out;
}

/** A JSON array of strings (exec form), or undefined (shell form). */
export function execForm(args: string): string[] | undefined {
  if (!args.startsWith("[")) return undefined;
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((word) => typeof word === "string")) throw new Error(`not an array of strings: ${args}`);
  return parsed;
}

/** Splits on blanks, honouring double and single quotes, as ENV and option lists are written. */
export function words(text: string): string[] {
  const out: string[] = [];
  for (const match of text.matchAll(/(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([^\s"']+))+/g)) {
    out.push(match[0].replace(/"((?:[^"\\]|\\.)*)"|'([^']*)'/g, (_, dq?: string, sq?: string) => dq?.replace(/\\(.)/g, "$1") ?? sq ?? ""));
  }
  return out;
}

/** `--name=value` options at the head of `args`, and what follows them. */
function options(args: string): { options: Record<string, string>; rest: string } {
  const found: Record<string, string> = {};
  let rest = args;
  for (let m = /^--([\w-]+)=(\S+)\s*/.exec(rest); m; m = /^--([\w-]+)=(\S+)\s*/.exec(rest)) {
    found[m[1]!] = m[2]!;
    rest = rest.slice(m[0].length);
  }
  return { options: found, rest };
}

/** `K=V K2="V 2"` (or the older `K V`) as a record. */
export function envPairs(args: string): Record<string, string> {
  if (!/^[\w.-]+=/.test(args)) {
    const [key, ...value] = args.split(/\s+/);
    return { [key!]: value.join(" ") };
  }
  return Object.fromEntries(
    words(args).map((pair) => {
      const at = pair.indexOf("=");
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
}

export function parseHealthcheck(args: string): HealthCheck {
  const { options: found, rest } = options(args);
  const m = /^CMD\s+(.*)$/.exec(rest);
  if (!m) throw new Error(`HEALTHCHECK without CMD: ${args}`);
  // Shell form runs under /bin/sh -c, as Docker does.
  return { options: found, command: execForm(m[1]!) ?? ["/bin/sh", "-c", m[1]!] };
}

/** The whole image, as the instructions leave it. */
export function readImage(text: string): Image {
  const instructions = parseDockerfile(text);
  const image: Image = { from: "", instructions, env: {}, workdir: "/", expose: [], raw: {} };
  for (const { keyword, args } of instructions) {
    switch (keyword) {
      case "FROM":
        image.from = args.split(/\s+/)[0]!;
        break;
      case "ENV":
        Object.assign(image.env, envPairs(args));
        break;
      case "WORKDIR":
        image.workdir = args.startsWith("/") ? args : `${image.workdir.replace(/\/$/, "")}/${args}`;
        break;
      case "USER":
        image.user = args;
        break;
      case "EXPOSE":
        image.expose.push(...args.split(/\s+/));
        break;
      case "STOPSIGNAL":
        image.stopSignal = args;
        break;
      case "HEALTHCHECK":
        image.healthcheck = parseHealthcheck(args);
        break;
      case "ENTRYPOINT":
        image.raw.entrypoint = args;
        image.entrypoint = execForm(args);
        break;
      case "CMD":
        image.raw.cmd = args;
        image.cmd = execForm(args);
        break;
    }
  }
  return image;
}

/** The value of a command-line option in `args`: `--name VALUE` or `--name=VALUE`. */
export function flag(args: readonly string[], ...names: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    for (const name of names) {
      if (arg === name) return args[i + 1];
      if (arg.startsWith(`${name}=`)) return arg.slice(name.length + 1);
    }
  }
  return undefined;
}
