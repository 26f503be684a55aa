import { SECTIONS, SETTINGS } from "../config/settings.ts";

/** `--help`, generated from the settings table. */
export function usage(): string {
  const lines = [
    "Usage: unicorn [OPTIONS] APP",
    "",
    "A pre-fork HTTP server for Fetch-API applications on Node, Bun and Deno.",
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
  lines.push("Signals: TERM stops gracefully; INT and QUIT stop at once; TTIN and TTOU add or remove a worker.");
  lines.push("Exit codes: 0 ok, 1 internal error, 2 usage or config error, 3 worker failed to boot,");
  lines.push("            4 app failed to load, 5 cannot listen, 6 missing runtime permission.");
  return lines.join("\n");
}
