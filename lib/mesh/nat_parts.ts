/**
 * The parts that find the way to the other members and report it: the paths through NATs and
 * the routes through relays and TCP (NAT traversal's section of the options), and this node's
 * link reports with, on the leader, the store of every member's latest.
 * @module
 */

import type { MembershipView, ViewChange } from "../members/member.ts";
import { MeshPaths, type NatOptions } from "./nat/mesh_paths.ts";
import { MeshRoutes } from "./relay/mesh_routes.ts";
import { proxiedVia } from "../agent/proxy.ts";
import type { RelayParts } from "./relay/relay_parts.ts";
import type { LinkParts, NatParts, RoleParts, Running, Start } from "./composition.ts";
import { LinkStore } from "./leader/link_store.ts";
import type { PeerActivity } from "./peers/activity.ts";
import { decodeLanKey } from "./state/lan_key.ts";
import { LinkReporter } from "./sync/link_reporter.ts";
import { linksParts } from "./sync/links.ts";

/** What NAT traversal's parts read besides the running agent and their section. */
export interface NatContext {
  /** Where the agent starts from (the leader's record, a node's LAN key). */
  start: Start;
  /** This node's private key (base64): path probes are sealed with it. */
  privateKey: string;
  /** This node's overlay addresses (CIDR). */
  addresses: string[];
  /** The endpoints this node advertises as given. */
  advertise: string[];
  /** The relay client and server below the device. */
  relay: RelayParts;
  /** Sessions on demand. */
  activity: PeerActivity;
}

/** The paths to the other members through NATs, and the routes through relays and TCP. */
export function makeNat(
  section: NatOptions,
  run: Running,
  role: RoleParts,
  ctx: NatContext,
): NatParts {
  const { agent, channel, logger, membership, own } = run;
  const { relay, start, addresses } = ctx;
  const view = membership.view;
  const paths = new MeshPaths({
    device: agent.device,
    privateKey: ctx.privateKey,
    role: role.role,
    channel,
    logger,
    leaderAddress: () => role.role === "node" ? role.sync.leader.address : own,
    // A leader takes call-me from the other leaders (for it, or passed on from their members).
    isLeader: (address) =>
      role.role === "node"
        ? role.sync.isLeader(address)
        : address !== own && role.core.leaders().some((m) => m.address === address),
    // Views are scoped by policy: the leader passes a call-me on only within a scope.
    ...(role.role === "leader" ? { mayCall: (a, b) => role.service.sees(a, b) } : {}),
    overlay: [...addresses, view.network, ...(view.network6 ? [view.network6] : [])],
    // The leader's record holds what it advertises (its addresses when none was given).
    advertise: start.core ? start.core.leader.endpoints : ctx.advertise,
    lanKey: start.core ? start.core.lanKey : decodeLanKey(start.node.lanKey),
    ...(start.core ? { publishedLan: start.core.leader.lan ?? [] } : {}),
    // Sessions on demand: only the active peers' paths are probed; a peer that calls or pings
    // us is made active (keepalive and health too).
    onDemand: true,
    wake: (key) => ctx.activity.wake(key),
    publishLan: (lan) => {
      if (role.role === "node") role.sync.hello();
      else {
        role.service.setLan(lan).catch((e) =>
          logger.error("saving the leader's LAN candidates failed", { error: String(e) })
        );
      }
    },
  }, section);
  const server = relay.server;
  const routes = new MeshRoutes({
    device: agent.device,
    paths,
    client: relay.client,
    channel,
    logger,
    ...(server ? { serverStats: () => server.stats } : {}),
    // Sessions on demand: a member that opened a relay session to us is made active.
    wake: (key) => ctx.activity.wake(key),
    ...(agent.proxy ? { proxiedVia: proxiedVia(agent.proxy) } : {}),
    // Round trips through the tunnel: they see a stream stalled one way (mesh_routes.ts).
    probesLost: (key) => agent.health.get(key)?.lostInARow ?? 0,
  });
  return { paths, routes };
}

/**
 * This node's link reporter (sampling the device's peers, their health and paths) and, on the
 * leader, the store that takes the members' reports from the control channel.
 */
export function makeLinks(
  run: Running,
  role: RoleParts,
  nat: NatParts | null,
  activity: PeerActivity,
): {
  parts: LinkParts;
  start: () => void;
  viewChanged: (v: MembershipView, change: ViewChange | null) => void;
  close: () => void;
} {
  const { agent, channel, logger, membership } = run;
  const self = agent.device.publicKey;
  let members = new Set(membership.view.members.map((m) => m.publicKey));
  const store = role.role === "leader"
    ? new LinkStore({
      self,
      memberAt: (address) => role.core.member(address),
      isMember: (key) => members.has(key),
      logger,
    })
    : null;
  const reporter = new LinkReporter({
    // The active peers only: an idle one has no link to report (the leader's view shows it
    // idle), and a report does not grow with the members known.
    samples: () =>
      activity.activeKeys().flatMap((key) => {
        const p = agent.device.peer(key);
        if (!p) return [];
        const h = agent.health.get(key);
        return [{
          publicKey: key,
          health: h?.state ?? "unknown",
          rttMs: h?.rttMs.median ?? null,
          ...nat?.paths.peerStatus(key),
          ...nat?.routes.peerStatus(key),
          rxBytes: p.counters.rxBytes,
          txBytes: p.counters.txBytes,
        }];
      }),
    // Only to the leader: no other member has any use for them.
    deliver: (n, links) => {
      if (store) store.setOwn(links);
      else if (role.role === "node") {
        for (const part of linksParts(n, links)) channel.send(role.sync.leader.address, part);
      }
    },
    onChange: (fn) => agent.health.subscribe(() => fn()),
  });
  let stop = () => {};
  let unpace = () => {};
  return {
    parts: { reporter, store },
    start: () => {
      if (store) {
        stop = channel.listen((msg, from) => {
          if (msg.t === "links") store.accept(msg, from);
        });
      }
      // A large fleet's leader paces its members' hellos: their reports slow down with them.
      if (role.role === "node") {
        unpace = role.sync.onPace((ms) => reporter.atMostEvery(ms));
      }
      reporter.start();
    },
    viewChanged: (v, change) => {
      if (change) {
        for (const k of change.remove) members.delete(k);
        for (const m of change.upsert) members.add(m.publicKey);
      } else members = new Set(v.members.map((m) => m.publicKey));
      store?.viewChanged(v, change);
    },
    close: () => {
      reporter.close();
      stop();
      unpace();
    },
  };
}
