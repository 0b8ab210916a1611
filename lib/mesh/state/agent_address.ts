/**
 * Where a running agent is found from its state directory: its control socket and the status
 * address it wrote. Apart from the rest of the state directory (lib/mesh/state/state.ts), so that
 * a command that only looks for the agent loads no more than this.
 * @module
 */

import { lockHeld } from "../../config/dir_lock.ts";

/** The file holding the running agent's status address. */
export const STATUS_ADDRESS_FILE = "status.address";

/** The running agent's control socket, in its state directory. */
export const CONTROL_SOCKET = "weft.sock";

/** The path of the control socket of the agent on the state directory `dir`. */
export function controlSocketPath(dir: string): string {
  return `${dir}/${CONTROL_SOCKET}`;
}

/**
 * The status address the running agent on `dir` wrote (`host:port`), or null when there is none,
 * it cannot be read, it is not one line of `host:port`, or no agent holds the directory's lock
 * (where that can be told, see `lockHeld`): one killed outright leaves an address nothing listens
 * on any more.
 */
export async function readStatusAddress(dir: string): Promise<string | null> {
  // Believed while an agent holds the directory (the one that wrote it, or its successor).
  if (!(await lockHeld(dir))) return null;
  let text;
  try {
    text = (await Deno.readTextFile(`${dir}/${STATUS_ADDRESS_FILE}`)).trim();
  } catch {
    return null;
  }
  return /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(text) ? text : null;
}
