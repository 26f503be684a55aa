import { describeSignals } from "../arbiter/signals.ts";
import { SECTIONS, SETTINGS } from "../config/settings.ts";
import { EXIT_CODE_MEANINGS } from "../errors.ts";

/** `--help`, generated from the settings table. */
export function usage(): string {
  const lines = [
    "Usage: unicorn [OPTIONS] APP",
    "       unicorn ctl [--socket PATH | --name NAME] [--json] COMMAND   (talk to a running server: unicorn ctl --help)",
    "",
    "A pre-fork HTTP server for Fetch-API and Node-style (Express, Koa, Fastify) applications on Node, Bun and Deno.",
    "APP is path/to/module.ts (its default export), module.ts:name, or module.ts:factory().",
    "Every option also reads UNICORN_<NAME> and UNICORN_CMD_ARGS; see docs/settings.md.",
    "",
  ];
  for (const section of SECTIONS) {
    const settings = SETTINGS.filter((s) => s.section === section && s.flags.length > 0);
    if (settings.length === 0) continue;
    lines.push(`${section}:`);
    for (const setting of settings) {
      const head = setting.flags.join(", ") + (setting.metavar ? ` ${setting.metavar}` : "");
      lines.push(`  ${head}${setting.active ? "" : "  (not active yet)"}`);
      lines.push(`      ${setting.doc}`);
      lines.push(`      Default: ${setting.defaultText}.`);
    }
    lines.push("");
  }
  lines.push("Other:", "  -h, --help      Show this help and exit.", "  -v, --version   Show the version and exit.", "");
  lines.push(`Signals: ${describeSignals()}.`);
  lines.push(`Exit codes: ${Object.entries(EXIT_CODE_MEANINGS).map(([code, meaning]) => `${code} ${meaning}`).join(", ")}.`);
  return lines.join("\n");
}
