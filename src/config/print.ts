/** `--print-config`: every resolved setting and where its value came from. */
import { formatAddress } from "./bind.ts";
import type { Resolved } from "./resolve.ts";
import { type Config, SETTINGS } from "./settings.ts";

function show(name: keyof Config, value: unknown): string {
  if (value === undefined) return "(none)";
  if (name === "bind") return (value as Config["bind"]).map((b) => (b.kind === "tcp" ? b.text : formatAddress(b))).join(", ");
  if (typeof value === "function") return "[function]";
  if (Array.isArray(value)) return value.length ? value.join(", ") : "(none)";
  if (name === "secureSchemeHeaders") return Object.entries(value as object).map(([k, v]) => `${k}: ${v}`).join(", ");
  if (typeof value === "object") return "[app object]";
  if ((name === "umask" || name === "controlSocketMode") && typeof value === "number") return `0${value.toString(8)}`;
  return String(value);
}

/** Every setting with its value shown as text and where it came from; `mask` hides environment values. */
export function configRows(resolved: Resolved, mask = false): Array<{ name: string; value: string; source: string }> {
  return SETTINGS.filter((s) => s.section !== "Server hooks" || resolved.config[s.name] !== undefined).map((s) => {
    let value = resolved.config[s.name];
    // -e KEY=VALUE often carries secrets: the keys are shown, not the values.
    if (mask && s.name === "env") value = (value as string[]).map((pair) => `${pair.slice(0, pair.indexOf("="))}=***`);
    return { name: s.name, value: show(s.name, value), source: resolved.sources[s.name] };
  });
}

/** One line per setting: `name = value  # source`. */
export function printConfig(resolved: Resolved): string {
  const rows = configRows(resolved);
  const width = Math.max(...rows.map(({ name }) => name.length));
  return rows.map(({ name, value, source }) => `${name.padEnd(width)} = ${value}  # ${source}`).join("\n");
}
