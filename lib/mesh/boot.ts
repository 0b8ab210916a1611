/**
 * What a mesh agent starts from, read or made before its agent exists: the state directory and
 * key; for a leader its state (after checking its networks against the local routes) with the
 * endpoints it advertises and the policy of its configuration; for a node its saved file, or the
 * answer of its join, saved first.
 * @module
 */

import { resolve } from "node:path";
import type { DirLock } from "../config/dir_lock.ts";
import { encodeKey, parseKey, publicKeyOf } from "../crypto/keys.ts";
import type { Logger } from "../log/logger.ts";
import { Cidr } from "../net/cidr.ts";
import {
  type CheckedToken,
  type JoinAnswer,
  JoinError,
  type JoinSection,
  requestJoin,
} from "./join/client.ts";
import { LeaderCore } from "./leader/core.ts";
import type { ResolvedMesh } from "./resolve.ts";
import { overlappingRoute } from "../net/local_routes.ts";
import { type NodeFile, StateDir } from "./state/state.ts";
import { FileStore } from "./store/file_store.ts";
import { newRunId } from "../members/run_id.ts";
import type { MembershipView } from "../members/member.ts";
import { compileAt, compilePolicyText, type PolicyOrigin } from "../policy/source.ts";

/** The default IPv4 mesh network. */
export const DEFAULT_NETWORK = "10.200.0.0/16";

/** A state directory ready for use, with this node's key pair. */
export interface OpenedState {
  /** The directory. */
  state: StateDir;
  /** Its lock, held until the agent closes. */
  lock: DirLock;
  /** The private key, base64. */
  privateKey: string;
  /** Its public key, base64. */
  publicKey: string;
  /**
   * Whether the key is on disk: a new one is saved only with the first thing that needs it (the
   * leader's state, a node's join request), so a start that fails before leaves no key behind.
   */
  keySaved: boolean;
}

/** A leader's starting point. */
export interface LeaderStart {
  /** Its state. */
  core: LeaderCore;
  /** Its overlay addresses with prefix lengths. */
  addresses: string[];
}

/** A node's starting point. */
export interface NodeStart {
  /** Its file: address, leader, view, policy. */
  node: NodeFile;
  /** Its overlay addresses with prefix lengths. */
  addresses: string[];
  /**
   * How this start's join reached the leader: `udp`, or `tcp` where UDP went unanswered (the
   * leader's peer is best started on TCP at once); absent when the node started from its file.
   */
  joinedOver?: "udp" | "tcp" | "websocket";
  /** The leader's endpoint that answered the join (`tcp://host:port` over TCP), with it. */
  joinedVia?: string;
  /** This run's id (lib/members/run_id.ts): sent with a join, and with every hello. */
  run: string;
}

/**
 * Locks the state directory (unless `held` is its lock already: see `MeshOptions.stateLock`),
 * makes (or tightens to 0700) it, clears a crash's temp files and reads the key, or makes one (in
 * memory: see {@link OpenedState.keySaved}). If any of that fails, what it made is removed and
 * the lock released; otherwise the lock is the caller's, in the result, and so is the cleanup
 * of a start that fails later ({@link abandonState}).
 */
export async function openState(
  dir: string,
  logger: Logger,
  held?: DirLock,
): Promise<OpenedState> {
  const state = new StateDir(dir);
  if (held && (!held.held || resolve(held.dir) !== resolve(dir))) {
    held.release();
    throw new Error(`the state lock given is not a held lock on ${dir}`);
  }
  let lock: DirLock;
  try {
    lock = held ?? await state.lock();
  } catch (e) {
    await abandonState({ state }, logger); // the directory, if it was made for the lock
    throw e;
  }
  try {
    if (!lock.enforced) {
      logger.warn("state directory not locked: nothing stops a second agent from using it", {
        dir,
        reason: lock.notEnforced,
      });
    }
    const tightened = await state.ensure();
    if (tightened) {
      logger.warn("state directory was open to other users; tightened to 0700", {
        dir,
        was: `0${tightened.tightenedFrom.toString(8)}`,
      });
    }
    const { key: privateKey, saved: keySaved } = await state.privateKey();
    const publicKey = encodeKey(publicKeyOf(parseKey(privateKey, "private key")));
    return { state, lock, privateKey, publicKey, keySaved };
  } catch (e) {
    await abandonState({ state, lock }, logger);
    throw e;
  }
}

/** Saves a key made at this start, before the first file that needs it; once. */
async function saveKey(opened: OpenedState): Promise<void> {
  if (opened.keySaved) return;
  await opened.state.writePrivateKey(opened.privateKey);
  opened.keySaved = true;
}

/**
 * After a start that failed: removes what the start created in the state directory (the key,
 * the leader's or the node's state, the directory itself when it made it), never what was there
 * before, and releases the lock, removing its file. What could not be removed is logged.
 */
export async function abandonState(
  opened: { state: StateDir; lock?: DirLock },
  logger: Logger,
): Promise<void> {
  const left = await opened.state.removeCreated(opened.lock);
  if (left.length) {
    logger.warn("a failed start left files it made in the state directory", {
      dir: opened.state.dir,
      left: left.join("; "),
    });
  }
}

/** After a start that succeeded: what it created in the state directory is kept for good. */
export function keepState(opened: OpenedState): void {
  opened.state.keepCreated();
}

/** This machine's IPv4 addresses (not loopback) with `port`; loopback only when there are none. */
export function localEndpoints(port: number): string[] {
  const out: string[] = [];
  let interfaces: Deno.NetworkInterfaceInfo[];
  try {
    interfaces = Deno.networkInterfaces();
  } catch (e) {
    // Falling back to loopback would hand out tokens no other machine can use.
    throw new Error(
      `cannot list this machine's addresses to advertise (${String(e)}): give the endpoints ` +
        "to advertise (--advertise HOST:PORT)",
      { cause: e },
    );
  }
  for (const i of interfaces) {
    if (i.family === "IPv4" && !i.address.startsWith("127.")) out.push(`${i.address}:${port}`);
  }
  return out.length ? out : [`127.0.0.1:${port}`];
}

/**
 * The policy a leader starts with, checked against the members it holds as `weft policy apply`
 * checks one (a name no member has, a failing test: the start stops); its canonical text.
 */
function startPolicy(
  text: string,
  origin: PolicyOrigin | undefined,
  view: MembershipView,
  logger: Logger,
): string {
  const { canonical, warnings } = origin
    ? compileAt(text, origin, view)
    : compilePolicyText(text, { view });
  if (warnings.length) logger.warn("policy warnings", { warnings });
  return canonical;
}

/**
 * Opens (or creates) the leader's state. With a TUN its networks must not overlap a local route
 * (a {@link JoinError}); the policy of its configuration is checked against the members and put
 * in force.
 */
export async function openLeader(
  mesh: ResolvedMesh,
  opened: OpenedState,
  logger: Logger,
): Promise<LeaderStart> {
  const { leader: opts, identity, agent } = mesh;
  const stateDir = mesh.state.dir;
  const network = opts.network ?? DEFAULT_NETWORK;
  const checkRoutes = async (nets: string[]) => {
    if (agent.userspace) return;
    for (const net of nets) {
      const clash = await overlappingRoute(net, agent.iface);
      if (clash) throw new JoinError(`network ${net} overlaps a local route: ${clash}`);
    }
  };
  // Without --cidr a stored mesh keeps its network: checked once it is known.
  if (opts.network !== undefined) {
    await checkRoutes([network, ...(opts.network6 ? [opts.network6] : [])]);
  }
  const port = agent.listenPort;
  if (port === 0 && !identity.advertise.length) {
    // The leader's endpoints go into its tokens before its socket is bound: a port picked by the
    // system would not be known yet, and would change at every restart.
    throw new JoinError(
      "a leader advertises its port in its tokens: give it a fixed listen port, or the " +
        "endpoints to advertise",
    );
  }
  const advertise = identity.advertise.length ? identity.advertise : localEndpoints(port);
  // A directory that holds a mesh of its own would be ignored beside a shared store, and that
  // mesh's nodes lost to it: it is moved into the store first.
  if (opts.store && await opened.state.readLeader()) {
    throw new Error(
      `${stateDir} holds a mesh of its own (leader.json), not in ${opts.store.where}: ` +
        `move it there first (weft store migrate --from ${stateDir} --to <store>), or give ` +
        "this leader another state directory",
    );
  }
  // The leader's state names its key: the key is on disk first.
  await saveKey(opened);
  const core = await LeaderCore.open(opts.store ?? new FileStore(opened.state), {
    network,
    keepStoredNetwork: opts.network === undefined,
    network6: opts.network6,
    hostname: identity.hostname,
    publicKey: opened.publicKey,
    endpoints: advertise,
    labels: identity.labels,
    services: identity.announced,
    routes: identity.routes,
    joinHoldMs: opts.joinHoldMs,
    nameHoldMs: opts.nameHoldMs,
  });
  if (opts.network === undefined) {
    try {
      await checkRoutes([core.network, ...(core.network6 ? [core.network6] : [])]);
    } catch (e) {
      core.close();
      throw e;
    }
  }
  if (opts.policyText !== undefined) {
    let canonical: string;
    try {
      canonical = startPolicy(opts.policyText, opts.policyOrigin, core.view(), logger);
    } catch (e) {
      core.close();
      throw e;
    }
    await core.setPolicy(canonical);
  }
  const addresses = [
    `${core.leader.address}/${Cidr.parse(core.network).bits}`,
    ...(core.network6 && core.leader.address6
      ? [`${core.leader.address6}/${Cidr.parse(core.network6).bits}`]
      : []),
  ];
  return { core, addresses };
}

/**
 * A node's saved file; without one, the join with its checked token (none: a
 * {@link JoinError}), whose answer is saved before anything else happens.
 */
export async function openNode(
  mesh: ResolvedMesh,
  opened: OpenedState,
  checked: CheckedToken | null,
  logger: Logger,
): Promise<NodeStart> {
  const { identity, join } = mesh;
  const stateDir = mesh.state.dir;
  let node = await opened.state.readNode();
  let joined: Pick<NodeStart, "joinedOver" | "joinedVia"> = {};
  const run = newRunId();
  // The name a removed node had: without one given, it asks for it again.
  let previousName: string | undefined;
  // The leader sends a removed node the view without it, which it saves: it is no member now.
  if (node && !node.view.members.some((m) => m.address === node!.address)) {
    if (!checked) {
      throw new JoinError(
        `this node was removed from the mesh (${stateDir}/node.json): join again with a ` +
          "new token (--join <token>)",
      );
    }
    logger.warn("this node was removed from the mesh: joining again with the token given", {});
    if (identity.hostnameIsDefault && node.name !== undefined && node.name !== identity.hostname) {
      previousName = node.name;
    }
    node = null;
  }
  if (!node) {
    if (!checked) {
      throw new JoinError(`${stateDir} holds no joined node: give a token with --join`);
    }
    const res = await joinAsThisKey(join, opened, checked, logger, previousName, run);
    joined = { joinedOver: res.joinedOver, joinedVia: res.answeredFrom };
    node = {
      format: 1,
      address: res.member.address,
      name: res.member.name,
      leader: {
        publicKey: res.leader.publicKey,
        endpoints: res.leader.endpoints,
        address: res.leader.address,
      },
      view: {
        network: res.network,
        ...(res.network6 ? { network6: res.network6 } : {}),
        version: 0,
        members: [res.leader, res.member],
      },
    };
    // Kept from here (joinAsThisKey), like the key, should the rest of the start fail.
    await opened.state.writeNode(node);
    logger.info("joined", {
      address: node.address,
      network: res.network,
      leader: res.leader.name,
      name: res.member.name,
    });
    // The leader owns names: another member's, a reserved one or a service's gets a suffix, and
    // a token may pin the name.
    const asked = previousName ?? identity.hostname;
    if (res.member.name !== asked) {
      logger.warn("the leader gave this node another name than it asked for", {
        asked,
        name: res.member.name,
      });
    }
  } else if (join.token) {
    // Said at warn: a node removed from the mesh and started again with a new token lands here,
    // and the way out (a fresh join) is not obvious.
    logger.warn(
      "already joined; the token is not needed and was not used (to join again, for instance " +
        "after weft node remove, move node.json out of the state directory first)",
      { address: node.address, stateDir: stateDir },
    );
  }
  const address = node.address;
  const me = node.view.members.find((m) => m.address === address);
  // The mesh knows this node by the key it joined with: with another one (private.key lost or
  // replaced) every peer would refuse its handshakes, silently. Said, as the leader says it.
  if (me !== undefined && me.publicKey !== opened.publicKey) {
    throw new Error(
      `this node's key does not match its stored state: ${stateDir}/private.key is not the ` +
        "key it joined with (lost or replaced); put the old key back, or move node.json away " +
        "and join again with a new token",
    );
  }
  const addresses = [
    `${address}/${Cidr.parse(node.view.network).bits}`,
    ...(me?.address6 && node.view.network6
      ? [`${me.address6}/${Cidr.parse(node.view.network6).bits}`]
      : []),
  ];
  return { node, addresses, run, ...joined };
}

/**
 * The join, sent as the key of the state directory, which is on disk before the request names
 * it: the leader may admit the key and its answer never arrive (lost, or the joiner killed
 * meanwhile), and a start again as that key gets the same member back (a resend, with the key's
 * proof, is answered with its record and does not use the token again) instead of leaving it an
 * orphan and taking a second name and address. So a key made at this start is kept once its
 * request went out, whatever follows (an answer, no answer, another failure), unless a leader
 * refused the joiner's input (a {@link JoinError}: no leader admitted it, and any would have
 * answered a resend of the key).
 */
async function joinAsThisKey(
  opts: JoinSection,
  opened: OpenedState,
  checked: CheckedToken,
  logger: Logger,
  previousName: string | undefined,
  run: string,
): Promise<JoinAnswer> {
  const made = !opened.keySaved;
  let sent = false;
  let res: JoinAnswer;
  try {
    res = await requestJoin(
      opts,
      checked,
      opened.privateKey,
      logger,
      previousName,
      run,
      async () => {
        await saveKey(opened);
        sent = true;
      },
    );
  } catch (e) {
    if (made && sent && !(e instanceof JoinError)) {
      keepState(opened);
      logger.warn("the join failed: this node's key is kept, so that a start again resumes it", {
        file: opened.state.path("private.key"),
      });
    }
    throw e;
  }
  // The mesh has this node now (its name, its address, its key): a start that fails from here
  // (writing its file, say) keeps what it made, so that the node starts again as itself once the
  // cause is fixed, instead of leaving its name taken by a key that is gone.
  keepState(opened);
  return res;
}
