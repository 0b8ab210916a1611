/**
 * `weft --leader` / `weft --join <token>`: the mesh agent and its status server, run until a
 * signal or the leader's removal. Loaded only when the root command runs an agent (cli/run.ts).
 * @module
 */

import type { Command } from "npm:@commander-js/extra-typings@^15.1.0";
import {
  type AgentConfig,
  ConfigError,
  JoinError,
  LeaderError,
  loadAgentConfig,
  MeshAgent,
  type MeshOptions,
  meshOptionsFromConfig,
  meshRoleFromConfig,
} from "../mod.ts";
import { type ControlServer, serveControl } from "../mod.ts";
import { readPemFlag } from "./pem.ts";
import { UsageError, withUserspaceHint } from "./errors.ts";
import { SignalWatch } from "./process.ts";
import { openStore } from "./store.ts";
import {
  bindControl,
  type BoundControl,
  type DirLock,
  meshControlFromConfig,
  StateDir,
  StoreError,
  userSetFlags,
} from "./internal.ts";

/**
 * The configuration and the mesh agent's options from it; bad input is a usage error. With
 * neither `--leader` nor `--join`, the role is read from the state directory, which is locked
 * first (and the lock handed to the agent): an agent already using it is an error (exit 1).
 */
async function meshConfig(program: Command) {
  let stateLock: DirLock | undefined;
  try {
    const config = await loadAgentConfig({ flags: userSetFlags(program) });
    // A missing directory is not made here: it holds no role (meshRoleFromConfig says so).
    if (!config.leader && !config.join && await isDirectory(config.stateDir)) {
      stateLock = await new StateDir(config.stateDir).lock();
    }
    const options = {
      ...meshOptionsFromConfig(config, { role: await meshRoleFromConfig(config) }),
      ...await webSocketTls(config),
    };
    // A leader with --store keeps the mesh's state there (its key stays in its state directory).
    const store = config.store === undefined ? undefined : await openStore({
      store: config.store,
      storeCa: config.storeCa,
      storeCert: config.storeCert,
      storeKey: config.storeKey,
      storePrefix: config.storePrefix,
    }, options.logger);
    return {
      config,
      options: {
        ...options,
        ...(stateLock ? { stateLock } : {}),
        ...(store ? { store: store.store } : {}),
      },
      store,
    };
  } catch (e) {
    stateLock?.release();
    if (e instanceof ConfigError) throw new UsageError(e.message);
    throw e;
  }
}

/** The wss certificate and key, and the CAs for wss dials, read from their files (PEM). */
async function webSocketTls(config: AgentConfig): Promise<{
  webSocketTls?: { cert: string; key: string; port: number };
  webSocketCaCerts?: string[];
}> {
  const cert = await readPemFlag("--ws-tls-cert", config.wsTlsCert);
  const key = await readPemFlag("--ws-tls-key", config.wsTlsKey);
  const ca = await readPemFlag("--ws-ca", config.wsCa);
  return {
    ...(cert !== undefined && key !== undefined
      ? { webSocketTls: { cert, key, port: config.wsTlsPort } }
      : {}),
    ...(ca !== undefined ? { webSocketCaCerts: [ca] } : {}),
  };
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/**
 * Starts the mesh agent; a join refused for what it was given (a `JoinError`: the token, the
 * flags) or a leader's refusal of its configuration is a usage error (exit code 2); a join refused
 * for another cause (`JoinUnavailableError`: the leader's state, its store, the clocks) and a
 * store that does not answer are failures (exit code 1).
 */
async function startMesh(options: MeshOptions): Promise<MeshAgent> {
  try {
    return await MeshAgent.start(options);
  } catch (e) {
    if (e instanceof JoinError || e instanceof LeaderError) throw new UsageError(e.message);
    if (e instanceof StoreError && options.store) {
      throw new Error(`cannot start the leader: ${options.store.where}: ${e.message}`);
    }
    throw withUserspaceHint(e);
  }
}

/**
 * Whether binding the status address failed because no interface has that address yet: the
 * node's own overlay address, which exists once the agent has brought its TUN device up.
 */
function notYetAssigned(e: unknown): boolean {
  return e instanceof Error && e.cause instanceof Deno.errors.AddrNotAvailable;
}

/**
 * Starts the mesh agent and its status server. The status port is bound first, so a taken one
 * fails the start before the agent has written any state; an address no interface has yet (the
 * node's overlay address) is bound once the agent is up, with its TUN device and addresses.
 */
async function startServing(
  config: AgentConfig,
  options: MeshOptions,
): Promise<{ mesh: MeshAgent; server: ControlServer }> {
  const listen = { listen: config.statusListen, allowRemote: config.statusAllowRemote };
  let bound: BoundControl | undefined;
  try {
    bound = bindControl(listen);
  } catch (e) {
    if (!notYetAssigned(e)) {
      options.stateLock?.release();
      throw e;
    }
  }
  let mesh: MeshAgent;
  try {
    mesh = await startMesh(options);
  } catch (e) {
    bound?.close();
    throw e;
  }
  if (!bound) {
    try {
      bound = bindControl(listen);
    } catch (e) {
      await mesh.close();
      throw e;
    }
  }
  // Commands given only --state-dir find this agent by it (cli/client.ts): written before the
  // server answers, so whoever the agent's first answer tells of it finds it there.
  const state = new StateDir(config.stateDir);
  await state.writeStatusAddress(bound.address).catch((e) =>
    options.logger?.warn("cannot record the status address", { error: String(e) })
  );
  try {
    // The leader's loop is the one kept busy by its members (views, pushes, byes): its API is
    // served from a worker thread that reads requests however long the loop's turns are.
    // `WEFT_API_WORKER=0` serves it from the main thread, as other agents do.
    const apiWorker = mesh.role === "leader" && Deno.env.get("WEFT_API_WORKER") !== "0";
    const server = serveControl(mesh, {
      ...(await meshControlFromConfig(config)),
      bound,
      apiWorker,
    });
    try {
      await server.ready;
    } catch (e) {
      await server.close();
      throw e;
    }
    return { mesh, server };
  } catch (e) {
    bound.close();
    await state.removeStatusAddress().catch(() => {});
    await mesh.close();
    throw e;
  }
}

/**
 * `weft --leader` / `weft --join <token>`: run a mesh agent until a signal, or until the leader
 * removes this node (exit code 1), unless `--on-removed wait`.
 */
export async function runMesh(program: Command): Promise<void> {
  // From the first line: a signal during the start stops the agent once the start is done.
  const signals = new SignalWatch();
  try {
    await runMeshUntil(program, signals);
  } finally {
    signals.close();
  }
}

async function runMeshUntil(program: Command, signals: SignalWatch): Promise<void> {
  const { config, options, store } = await meshConfig(program);
  let started;
  try {
    started = await startServing(config, options);
  } catch (e) {
    await store?.close();
    throw e;
  }
  const { mesh, server } = started;
  options.logger.info("status listening", { address: server.address });
  const state = new StateDir(config.stateDir);
  // Once, whichever asks first: a signal may come while a removal stops the agent.
  let stopping: Promise<void> | null = null;
  const stop = () =>
    stopping ??= (async () => {
      try {
        await state.removeStatusAddress().catch(() => {});
        await server.close();
      } finally {
        try {
          await mesh.close(); // rejects when the final state write fails
        } finally {
          await store?.close();
        }
      }
    })();
  let removed!: () => void;
  const onRemoved = new Promise<void>((resolve) => removed = resolve);
  const onRemovedEvent = () => {
    if (config.onRemoved === "wait") {
      options.logger.warn(
        "removed from the mesh by the leader: running on with no peers (--on-removed wait) " +
          "until stopped",
        {},
      );
    } else removed();
  };
  mesh.onRemoved(onRemovedEvent);
  // Removed while the status server was starting: said before anyone listened.
  if (mesh.removed) onRemovedEvent();
  if (signals.signalled) {
    options.logger.info("a signal came during the start: stopping", {
      signal: signals.signalled,
    });
  }
  const outcome = await Promise.race([
    signals.first.then(() => "signal"),
    onRemoved.then(() => ""),
  ]);
  if (outcome === "signal") return await stop();
  options.logger.error("removed from the mesh by the leader: stopping (exit code 1)", {});
  await stop();
  Deno.exitCode = 1;
}
