/**
 * The client of the local agent the commands talk to, found the same way for every command (from
 * `--status-listen` and `--state-dir`): its control socket in the state directory, where the
 * operating system is the authentication, or a TCP address with the control token, sent only to
 * an address the user gave or the agent wrote in its own directory. Never a credential to an
 * address nothing proves to be the agent: another user may listen there.
 * @module
 */

import { ControlClient } from "../lib/control/mod.ts";
import { UsageError } from "./errors.ts";
import { DEFAULT_STATUS } from "./options.ts";
import {
  controlSocketPath,
  defaultStateDir,
  DirLockedError,
  readStatusAddress,
} from "./internal_client.ts";

/** The options every command that talks to the agent takes (see `agentOptions`). */
export interface AgentOptions {
  /** `--status-listen`: the agent's status server, when given. */
  statusListen?: string;
  /** `--state-dir`: the agent's state directory, when given. */
  stateDir?: string;
}

/** The control token in `dir`, or undefined when it cannot be read (not this user's agent). */
async function readToken(dir: string): Promise<string | undefined> {
  try {
    return (await Deno.readTextFile(`${dir}/control.token`)).trim() || undefined;
  } catch {
    return undefined;
  }
}

async function isSocket(path: string): Promise<boolean> {
  try {
    return (await Deno.lstat(path)).isSocket === true;
  } catch {
    return false;
  }
}

/**
 * A client for the local agent, in this order:
 *
 * 1. `--status-listen` given: that address, with the control token of the state directory given
 *    with `--state-dir` (the user named both), or of the default one only when its running agent
 *    recorded that very address (else the default agent's token would go to another address);
 * 2. the agent's socket, `<state-dir>/weft.sock` (`--state-dir`, or the default one): no token;
 * 3. the address an agent without a socket (an older version) wrote in its state directory, with
 *    the token (the directory is the owner's only, and the agent holds its lock);
 * 4. else 127.0.0.1:51880 with no token: whoever listens there gets no credential, and an agent
 *    there answers what needs none (its status).
 *
 * `defaultDir` is the state directory when `--state-dir` is not given (the agent's default).
 */
export async function localClient(
  opts: AgentOptions,
  defaultDir: () => string = defaultStateDir,
): Promise<ControlClient> {
  const dir = opts.stateDir ?? defaultDir();
  if (opts.statusListen !== undefined) {
    const ours = opts.stateDir !== undefined ||
      (await readStatusAddress(dir)) === opts.statusListen;
    return new ControlClient(opts.statusListen, ours ? await readToken(dir) : undefined);
  }
  const socket = controlSocketPath(dir);
  if (await isSocket(socket)) return ControlClient.overSocket(socket);
  const written = await readStatusAddress(dir);
  if (written !== null) return new ControlClient(written, await readToken(dir));
  return new ControlClient(DEFAULT_STATUS);
}

/**
 * Replaces the control token of the agent on the state directory (`weft token rotate-control`):
 * through its socket while it runs (it takes the new one at once), else in the directory itself,
 * under its lock. Returns the token file's path.
 */
export async function rotateControlToken(opts: { stateDir?: string }): Promise<string> {
  // The state directory's whole reader, loaded only for this command (cli/internal.ts).
  const { StateDir } = await import("./internal.ts");
  const state = new StateDir(opts.stateDir ?? defaultStateDir());
  const file = state.path("control.token");
  if (await isSocket(state.socketPath)) {
    const client = ControlClient.overSocket(state.socketPath);
    try {
      await client.rotateControlToken();
      return file;
    } catch (e) {
      // A socket nothing serves (an agent killed outright): the directory's lock says.
      if (e instanceof Error && !e.message.startsWith("cannot reach the agent")) throw e;
    } finally {
      client.close();
    }
  }
  try {
    if (!(await Deno.stat(state.dir)).isDirectory) throw new Deno.errors.NotFound();
  } catch {
    throw new UsageError(`no state directory ${state.dir}: give the agent's --state-dir`);
  }
  let lock;
  try {
    lock = await state.lock();
  } catch (e) {
    if (!(e instanceof DirLockedError)) throw e;
    throw new UsageError(
      `the agent on ${state.dir} has no control socket (a version before it): stop it, ` +
        "rotate the token, then start it again",
    );
  }
  try {
    await state.rotateControlToken();
  } finally {
    lock.release();
  }
  return file;
}

/** Labels as `k=v,k=v`, or `-`. */
export function labelsText(labels: Record<string, string> | undefined): string {
  return Object.entries(labels ?? {}).map(([k, v]) => `${k}=${v}`).join(",") || "-";
}
