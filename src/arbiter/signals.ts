/**
 * The signals the arbiter handles, and what each does: the one table the arbiter installs its
 * handlers from and `--help` prints. Anything else keeps its default action.
 */
import type { SignalName } from "../runtime.ts";

export const SIGNALS: readonly { readonly signal: SignalName; readonly effect: string }[] = [
  { signal: "SIGTERM", effect: "stop gracefully" },
  { signal: "SIGINT", effect: "stop at once" },
  { signal: "SIGQUIT", effect: "stop at once" },
  { signal: "SIGHUP", effect: "reload the config and replace the workers" },
  { signal: "SIGTTIN", effect: "one worker more" },
  { signal: "SIGTTOU", effect: "one worker fewer" },
  { signal: "SIGUSR1", effect: "reopen the log files" },
  { signal: "SIGUSR2", effect: "start a new arbiter with the same command line (binary upgrade)" },
  { signal: "SIGWINCH", effect: "during an upgrade, retire the old arbiter's workers" },
];

/** "TERM: stop gracefully; INT, QUIT: stop at once; ..." */
export function describeSignals(): string {
  const byEffect = new Map<string, string[]>();
  for (const { signal, effect } of SIGNALS) byEffect.set(effect, [...(byEffect.get(effect) ?? []), signal.slice(3)]);
  return [...byEffect].map(([effect, names]) => `${names.join(", ")}: ${effect}`).join("; ");
}
