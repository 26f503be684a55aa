import { type Section, SETTINGS } from "../config/settings.ts";

/** `--help`, generated from the settings table. */
export function usage(): string {
  const lines = [
    "Usage: unicorn [OPTIONS] APP",
    "",
    "A pre-fork HTTP server for Fetch-API applications on Node, Bun and Deno.",
    "APP is path/to/module.ts (its default export), module.ts:name, or module.ts:factory().",
    "",
  ];
  const sections = [...new Set(SETTINGS.map((s) => s.section))] as Section[];
  for (const section of sections) {
    lines.push(`${section}:`);
    for (const setting of SETTINGS.filter((s) => s.section === section)) {
      const head = setting.flags.join(", ") + (setting.metavar ? ` ${setting.metavar}` : "");
      lines.push(`  ${head}`);
      lines.push(`      ${setting.doc}`);
      lines.push(`      Default: ${setting.defaultText}.`);
    }
    lines.push("");
  }
  lines.push("Other:", "  -h, --help      Show this help and exit.", "  -v, --version   Show the version and exit.", "");
  lines.push("Signals: TERM stops gracefully; INT and QUIT stop at once.");
  lines.push("Exit codes: 0 ok, 1 internal error, 2 usage or config error, 3 worker failed to boot,");
  lines.push("            4 app failed to load, 5 cannot listen, 6 missing runtime permission.");
  return lines.join("\n");
}
