/**
 * The leader's edits of the mesh itself and its leaders: a new mesh made (its founding leader at
 * the first host address), a stored one checked and entered by a leader (added as one more
 * leader on a shared store, or its own record refreshed), the IPv6 network added. Plain
 * functions over a copy of the state (./edit_context.ts).
 * @module
 */

import { Cidr } from "../../net/cidr.ts";
import { formatAddress } from "../../net/ip.ts";
import { dnsLabelProblem } from "../../net/names.ts";
import type { Member, ServiceSpec } from "../../members/member.ts";
import { splitLabels } from "../../members/labels.ts";
import { quote } from "../../text/quote.ts";
import { newLanKey } from "../state/lan_key.ts";
import { RecordMap } from "../state/record_map.ts";
import type { LeaderFile } from "../state/state.ts";
import type { LeaderStore } from "../store/store.ts";
import type { Edit, Touch } from "./changes.ts";
import type { EditContext } from "./edit_context.ts";
import { LeaderError } from "./errors.ts";
import { reassign } from "./route_edits.ts";

/** What a leader opens its state with: who it is and where it is reached. */
export interface LeaderInit {
  /** Its host name (a DNS label). */
  hostname: string;
  /** Its public key. */
  publicKey: string;
  /** Where it is reached. */
  endpoints: string[];
  /** Its labels: ordinary keys granted, `node.weft/` ones its own. */
  labels?: Record<string, string>;
  /** Its services. */
  services?: ServiceSpec[];
  /** The routes the leader itself offers to carry (canonical; need no approval). */
  routes?: string[];
}

/** What a leader opens its mesh with: {@link LeaderInit} and the networks. */
export interface MeshInit extends LeaderInit {
  /** The mesh network (IPv4): a new mesh's, and the one a stored mesh must have. */
  network: string;
  /**
   * `network` is only a default: a stored mesh keeps its own network instead of being
   * refused for another (a leader restarted, or added to a shared store, without `--cidr`).
   */
  keepStoredNetwork?: boolean;
  /** An IPv6 network, allocated alongside (added to a stored mesh that has none). */
  network6?: string;
}

/** Why the stored mesh `stored` is not the one `init` asks for (at `where`); undefined: it is. */
export function storedMeshProblem(
  stored: LeaderFile,
  init: MeshInit,
  where: string,
): string | undefined {
  if (
    !init.keepStoredNetwork &&
    Cidr.parse(stored.network).toString() !== Cidr.parse(init.network).toString()
  ) {
    return `${where} is for network ${stored.network}, not ${init.network}`;
  }
  if (
    init.network6 && stored.network6 &&
    Cidr.parse(init.network6).toString() !== Cidr.parse(stored.network6).toString()
  ) {
    return `${where} is for IPv6 network ${stored.network6}, not ${init.network6}`;
  }
  return undefined;
}

/**
 * A new mesh's document, made at `now`: its network, the leader `init` as its only member at
 * the first host address, a new LAN key. A LeaderError for a network it cannot allocate from or
 * a bad host name.
 */
export function newMesh(init: MeshInit, now: number): LeaderFile {
  const net = Cidr.parse(init.network);
  if (net.family !== 4) throw new LeaderError("the mesh network must be an IPv4 CIDR");
  if (net.bits > 30) throw new LeaderError(`network ${init.network} is too small`);
  if (dnsLabelProblem(init.hostname) !== undefined) {
    throw new LeaderError(`hostname ${quote(init.hostname)} is not a valid DNS label`);
  }
  const own = splitLabels(init.labels ?? {});
  const leader: Member = {
    name: init.hostname,
    publicKey: init.publicKey,
    address: formatAddress(net.firstHost()),
    endpoints: init.endpoints,
    labels: own.granted,
    ...(Object.keys(own.asserted).length ? { nodeLabels: own.asserted } : {}),
    role: "leader",
    services: init.services ?? [],
    joinedAt: now,
  };
  return {
    format: 1,
    network: net.toString(),
    version: 1,
    members: [leader],
    tokens: [],
    joins: new RecordMap(),
    lanKey: newLanKey(),
  };
}

/**
 * The first write of a new mesh's document `d`: the leader entered (its routes, the IPv6
 * network). Run again on what another leader created meanwhile, the leader joins that mesh,
 * unless it is for another network than `init`'s.
 */
export function foundMesh(
  ctx: EditContext,
  d: LeaderFile,
  touch: Touch,
  init: MeshInit,
  store: Pick<LeaderStore, "where" | "single">,
): Edit<void> {
  const net = Cidr.parse(init.network).toString();
  if (Cidr.parse(d.network).toString() !== net) {
    throw new LeaderError(
      `another leader created the mesh in ${store.where} for network ${d.network}, not ` +
        init.network,
    );
  }
  enterLeader(ctx, d, touch, init, store);
  if (init.network6 && !d.network6) setNetwork6(d, touch, init.network6);
  return { result: undefined, write: true };
}

/**
 * A leader opening the stored mesh `d`: it enters it ({@link enterLeader}), an IPv6
 * network added later gives every member its address, and state from before LAN discovery
 * gets its key, once. Written only when something was added.
 */
export function reopenMesh(
  ctx: EditContext,
  d: LeaderFile,
  touch: Touch,
  init: MeshInit,
  store: Pick<LeaderStore, "where" | "single">,
): Edit<void> {
  const added = enterLeader(ctx, d, touch, init, store);
  if (init.network6 && !d.network6) setNetwork6(d, touch, init.network6);
  const keyless = d.lanKey === undefined;
  if (keyless) d.lanKey = newLanKey();
  return { result: undefined, write: keyless || added };
}

/** A member's IPv6 address: the same host index as its IPv4 `address` in `network`. */
export function v6For(
  address: string,
  network: string,
  network6: string | undefined,
): string | undefined {
  if (!network6) return undefined;
  const v4 = Cidr.parse(address).address;
  const net = Cidr.parse(network).network;
  let index = 0n;
  for (let i = 0; i < 4; i++) index = (index << 8n) | BigInt(v4[i] ^ net[i]);
  return formatAddress(Cidr.parse(network6).addressAt(index));
}

/**
 * Makes the leader `init` a member of the mesh in `d`: a leader whose key `d` does not hold yet
 * (another leader made the mesh) is added with the leader role, an address allocated as a
 * join's and its hostname, which no other member may hold; one already there gets its
 * endpoints, labels and services updated. True when it was added.
 */
export function enterLeader(
  ctx: EditContext,
  d: LeaderFile,
  touch: Touch,
  init: LeaderInit,
  store: Pick<LeaderStore, "where" | "single">,
): boolean {
  const where = store.where;
  const ix = ctx.index(d);
  const found = ix.byKey(init.publicKey);
  if (found) {
    if (found.role !== "leader") {
      throw new LeaderError(
        `this leader's key is a node's in ${where}: a leader needs a key of its own`,
      );
    }
    refreshLeader(ctx, d, touch, found, init);
    return false;
  }
  // A store of one leader's holds another key: this leader's own was lost or replaced.
  if (store.single || ix.leaderKeys().size === 0) {
    throw new LeaderError("the leader's key does not match its stored state");
  }
  if (d.left?.[init.publicKey]?.removedToken !== undefined) {
    throw new LeaderError(
      `this leader was removed from the mesh in ${where}: start it with a new state ` +
        "directory (a new key) to serve the mesh again",
    );
  }
  if (dnsLabelProblem(init.hostname) !== undefined) {
    throw new LeaderError(`hostname ${quote(init.hostname)} is not a valid DNS label`);
  }
  if (ix.byName(init.hostname)) {
    throw new LeaderError(
      `hostname "${init.hostname}" is already taken in ${where}: give this leader another ` +
        "(--hostname)",
    );
  }
  const address = ix.lowestFree();
  if (!address) throw new LeaderError(`network ${d.network} is exhausted`);
  const own = splitLabels(init.labels ?? {});
  ix.add({
    name: init.hostname,
    publicKey: init.publicKey,
    address,
    ...(d.network6 ? { address6: v6For(address, d.network, d.network6) } : {}),
    endpoints: init.endpoints,
    labels: own.granted,
    ...(Object.keys(own.asserted).length ? { nodeLabels: own.asserted } : {}),
    role: "leader",
    services: init.services ?? [],
    ...(init.routes?.length ? { advertisedRoutes: [...init.routes] } : {}),
    joinedAt: Date.now(),
  });
  // A key that left before (a released join) is a member again.
  if (d.left?.[init.publicKey]) delete d.left[init.publicKey];
  touch(init.publicKey);
  if (init.routes?.length) reassign(ctx, d, touch);
  return true;
}

/** Updates a leader's own record from what it was opened with (`init`), when that changed it. */
function refreshLeader(
  ctx: EditContext,
  d: LeaderFile,
  touch: Touch,
  leader: Member,
  init: LeaderInit,
): void {
  // The leader's operator sets its labels: ordinary keys are granted, node.weft/ ones its own.
  const own = init.labels ? splitLabels(init.labels) : null;
  const labels = own?.granted ?? leader.labels;
  const nodeLabels = own ? own.asserted : leader.nodeLabels ?? {};
  const routes = init.routes ?? [];
  const changed = JSON.stringify([
    leader.endpoints,
    leader.labels,
    leader.nodeLabels ?? {},
    leader.services,
    leader.advertisedRoutes ?? [],
  ]) !==
    JSON.stringify([
      init.endpoints,
      labels,
      nodeLabels,
      init.services ?? leader.services,
      routes,
    ]);
  if (changed) {
    const { nodeLabels: _, advertisedRoutes: _r, ...rest } = leader;
    ctx.index(d).replace({
      ...rest,
      endpoints: init.endpoints,
      labels,
      ...(Object.keys(nodeLabels).length ? { nodeLabels } : {}),
      services: init.services ?? leader.services,
      ...(routes.length ? { advertisedRoutes: [...routes] } : {}),
    });
    touch(leader.publicKey);
    if (String(routes) !== String(leader.advertisedRoutes ?? [])) reassign(ctx, d, touch);
  }
}

/** Gives the mesh in `d` the IPv6 network `text`, and every member its address in it. */
export function setNetwork6(d: LeaderFile, touch: Touch, text: string): void {
  const net6 = Cidr.parse(text);
  if (net6.family !== 6) throw new LeaderError(`${text} is not an IPv6 network`);
  d.network6 = net6.toString();
  d.members = d.members.map((m) => ({
    ...m,
    address6: v6For(m.address, d.network, d.network6),
  }));
  touch(...d.members.map((m) => m.publicKey));
}
