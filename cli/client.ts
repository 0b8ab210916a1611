/**
 * The client of the local agent the commands talk to, with the control token from its state
 * directory.
 * @module
 */

import { defaultStateDir } from "../lib/config/mod.ts";
import { ControlClient } from "../lib/control/mod.ts";
import { UsageError } from "./errors.ts";

/**
 * A client for the local agent, with the control token from its state directory. Agents started
 * with `weft up` have no token; `required` says whether to insist on one.
 */
export async function localClient(
  opts: { statusListen: string; stateDir?: string },
  required = true,
): Promise<ControlClient> {
  const dir = opts.stateDir ?? defaultStateDir();
  let token: string | undefined;
  try {
    token = (await Deno.readTextFile(`${dir}/control.token`)).trim();
  } catch {
    if (required) {
      throw new UsageError(
        `cannot read the control token in ${dir}/control.token: give the agent's --state-dir`,
      );
    }
  }
  return new ControlClient(opts.statusListen, token);
}

/** Labels as `k=v,k=v`, or `-`. */
export function labelsText(labels: Record<string, string> | undefined): string {
  return Object.entries(labels ?? {}).map(([k, v]) => `${k}=${v}`).join(",") || "-";
}
