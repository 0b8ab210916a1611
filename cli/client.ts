/**
 * The client of the local agent the commands talk to: where it listens and its control token,
 * both found the same way for every command (from `--status-listen` and `--state-dir`).
 * @module
 */

import { defaultStateDir } from "../lib/config/mod.ts";
import { ControlClient } from "../lib/control/mod.ts";
import { StateDir } from "../lib/mesh/mod.ts";
import { UsageError } from "./errors.ts";
import { DEFAULT_STATUS } from "./options.ts";

/** The options every command that talks to the agent takes (see `agentOptions`). */
export interface AgentOptions {
  /** `--status-listen`: the agent's status server, when given. */
  statusListen?: string;
  /** `--state-dir`: the agent's state directory, when given. */
  stateDir?: string;
}

/**
 * Where the agent's status server is: `--status-listen` when given, else the address the agent
 * running on the state directory (`--state-dir`, or the default one) wrote there, else
 * 127.0.0.1:51880.
 */
export async function agentAddress(opts: AgentOptions): Promise<string> {
  if (opts.statusListen !== undefined) return opts.statusListen;
  const written = await new StateDir(opts.stateDir ?? defaultStateDir()).statusAddress();
  return written ?? DEFAULT_STATUS;
}

/**
 * A client for the local agent, with the control token from its state directory. Agents started
 * with `weft up` have no token; `required` says whether to insist on one.
 */
export async function localClient(
  opts: AgentOptions,
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
  return new ControlClient(await agentAddress(opts), token);
}

/** Labels as `k=v,k=v`, or `-`. */
export function labelsText(labels: Record<string, string> | undefined): string {
  return Object.entries(labels ?? {}).map(([k, v]) => `${k}=${v}`).join(",") || "-";
}
