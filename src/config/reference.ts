/** The settings reference, `docs/settings.md`, generated from the table. */
import { HOOK_NAMES } from "./hooks.ts";
import { envName, SECTIONS, SETTINGS } from "./settings.ts";

/** Renders docs/settings.md. `scripts/gen-docs.ts` writes it; a test fails when the file differs. */
export function settingsReference(): string {
  const out = [
    "# Settings",
    "",
    "Generated from `src/config/settings.ts` by `npm run docs`; do not edit by hand.",
    "",
    "Every setting can be set, from lowest to highest precedence:",
    "",
    "1. by its default (`PORT`, `WEB_CONCURRENCY` and `FORWARDED_ALLOW_IPS` replace three defaults, as in Gunicorn);",
    "2. in the config file (`-c PATH`, or the first of `unicorn.config.ts`, `.js`, `.mjs`, `.json` in the working directory);",
    "3. by its environment variable, `UNICORN_<NAME>` (lists comma-separated);",
    "4. in `UNICORN_CMD_ARGS`, parsed as a command line;",
    "5. on the command line.",
    "",
    "`unicorn --print-config` shows each resolved value and where it came from. Settings marked *not active yet*",
    "are accepted and validated, and a warning says they have no effect.",
    "",
  ];
  for (const section of SECTIONS) {
    const settings = SETTINGS.filter((s) => s.section === section);
    out.push(`## ${section}`, "");
    if (section === "Server hooks") {
      out.push(
        "Functions in a `.ts`, `.js` or `.mjs` config file. Async hooks are awaited. A hook that throws is logged",
        "and the server goes on, except `onStarting` and `whenReady` (the arbiter does not start, exit 1) and",
        "`postFork` and `postWorkerInit` (the worker fails to boot, exit 3). Worker hooks run in the worker process",
        "and get that worker; arbiter hooks get the arbiter (`pid`, `numWorkers`, `workers`, `log`).",
        "",
        "| hook | where and when, and its arguments |",
        "| --- | --- |",
      );
      for (const name of HOOK_NAMES) out.push(`| \`${name}\` | ${settings.find((s) => s.name === name)!.doc} |`);
      out.push("");
      continue;
    }
    for (const s of settings) {
      out.push(`### \`${s.name}\`${s.active ? "" : " (not active yet)"}`, "");
      const flags = s.flags.map((f) => `\`${f}${s.metavar ? ` ${s.metavar}` : ""}\``).join(", ");
      if (flags) out.push(`- Command line: ${flags}${s.repeatable ? " (repeatable)" : ""}`);
      if (s.flags.length && !s.cliOnly) out.push(`- Environment: \`${envName(s)}\``);
      out.push(s.cliOnly ? "- Config file: no" : `- Config file: \`${s.name}\`, ${s.expected}`);
      out.push(`- Default: ${s.defaultText}`, "", s.doc, "");
    }
  }
  out.push(
    "## Gunicorn settings left out",
    "",
    "| Gunicorn | why |",
    "| --- | --- |",
    "| `worker_class`, `threads` | one kind of worker: an event loop serving the Fetch handler; the HTTP server is chosen per runtime (docs/listeners.md) |",
    "| `worker_tmp_dir` | heartbeats travel on the control socket, not through file timestamps, so no slow-disk stalls |",
    "| `daemon`, `enable_stdio_inheritance` | run under a supervisor (systemd, a container runtime) instead |",
    "| `pythonpath`, `paste`, `raw_paste_global_conf`, `spew`, `wsgi_app` | Python-only; `app` in the config file replaces `wsgi_app` |",
    "| `sendfile` | the runtimes' servers decide |",
    "| `strip_header_spaces`, `casefold_http_method`, `permit_unconventional_http_*`, `permit_obsolete_folding`, `header_map` | unicorn is strict and has no switches to loosen it |",
    "| `tmp_upload_dir` | request bodies stream to the app; nothing is spooled |",
    "| `ssl_version`, `suppress_ragged_eofs`, `do_handshake_on_connect` | deprecated or Python's `ssl` module only; the minimum TLS version is 1.2 |",
    "| `logconfig*`, `syslog*`, `logger_class` | the error log is a stream or a file; ship it with your log collector |",
    "| `http_protocols`, `http2_*` | HTTP/2 is chosen by ALPN over TLS (node:http engine, Deno.serve; not Bun.serve), h2c with prior knowledge only from `--forwarded-allow-ips` peers; no settings (docs/http.md#http2) |",
    "| `dirty_*`, `asgi_*`, `uwsgi*`, `protocol`, `root_path` | no counterpart in a Fetch handler |",
    "",
  );
  return out.join("\n");
}
