/**
 * A mesh member in a web page: the smallest composition of the library's parts that joins a
 * mesh with a token and calls services, publishes and subscribes, with nothing a browser lacks.
 *
 * - The join exchange (lib/mesh/join/exchange.ts) over a WebSocket to the leader
 *   (drivers/websocket.ts), on a socket of its own, closed once answered.
 * - The WireGuard device (lib/device) on the noble crypto backend (pure JS), over a second
 *   WebSocket to the leader that carries everything from then on: the leader is the one peer
 *   reached over it, every other member is reached through the leader as a relay
 *   (relay_routes.ts; lib/relay).
 * - The userspace stack (drivers/userspace.ts) for the node's overlay address: no TUN, so only
 *   the mesh's own traffic (the control channel, the service layer) flows, never the page's.
 * - The membership sync (lib/mesh/sync/node_sync.ts) and the policy the leader sends, enforced
 *   on the packets as in every agent (lib/policy/runtime.ts): a member the policy does not let
 *   reach this node does not.
 * - The service layer (lib/services): call, publish, subscribe.
 *
 * What a full agent has and a page has not: a state directory (the key and the node's file live
 * in the page's memory: a reload is a new member, see docs/browser.md), UDP, direct paths, DNS,
 * a status server.
 * @module
 */

import { nobleAead, nobleDh } from "../crypto/noble.ts";
import type { CryptoSuite } from "../crypto/types.ts";
import { generateKeyPair } from "../crypto/keys.ts";
import { Device } from "../device/device.ts";
import type { Logger } from "../log/logger.ts";
import { nullLogger } from "../log/logger.ts";
import type { MembershipView } from "../members/member.ts";
import { Cidr } from "../net/cidr.ts";
import { RelayClient } from "../relay/client.ts";
import { RelayMux } from "../relay/mux.ts";
import { RelayTransport } from "../relay/transport.ts";
import { PolicyRuntime } from "../policy/runtime.ts";
import {
  type CheckedToken,
  checkJoinToken,
  joinOver,
  newJoinReceiver,
} from "../mesh/join/exchange.ts";
import { Membership } from "../mesh/membership.ts";
import { MemberIndex, MeshPeers } from "../mesh/peers/peers.ts";
import { ControlChannel } from "../mesh/sync/control_channel.ts";
import { NodeSync } from "../mesh/sync/node_sync.ts";
import { sessionAndPath } from "../health/prober.ts";
import { MeshServices } from "../services/mesh_services.ts";
import type { RequestOptions } from "../services/client.ts";
import type { PublishOptions, PublishResult } from "../services/pubsub.ts";
import type { SubscribeOptions, Subscription } from "../services/subscription.ts";
import {
  type WebSocketConstructor,
  WebSocketTransport,
  webSocketUrl,
} from "../../drivers/websocket.ts";
import { UserspaceStack } from "../../drivers/userspace.ts";
import { formatHostPort } from "../net/hostport.ts";
import { splitEndpoint } from "../net/resolve.ts";
import { RelayRoutes } from "./relay_routes.ts";

/** Options of {@link joinMesh}. */
export interface JoinMeshOptions {
  /** The join token (`weft token create`), or one the page got from its own server. */
  token: string;
  /**
   * The leader's or relay's WebSocket, `ws://host:port` or `wss://host:port` (path `/weft/ws`
   * unless given). Default: the token's first leader endpoint's host, on the token's TCP port
   * (or the endpoint's), `ws://` (`wss://` when the page itself is served over HTTPS).
   */
  url?: string;
  /** The name asked for (the leader may add a suffix). Default `browser`. */
  hostname?: string;
  /** The node's own labels (`node.weft/...`; the token's are the leader's to give). */
  labels?: Record<string, string>;
  /** How long the join may take, ms. Default 15,000. */
  joinTimeoutMs?: number;
  /** Milliseconds between hellos to the leader. Default 3,000. */
  syncIntervalMs?: number;
  /** Where events are logged. Default: nowhere. */
  logger?: Logger;
  /** The WebSocket implementation. Default `globalThis.WebSocket`. */
  webSocket?: WebSocketConstructor;
}

/** What {@link BrowserNode.status} says. */
export interface BrowserNodeStatus {
  /** This node's name. */
  name: string;
  /** Its overlay address. */
  address: string;
  /** Its public key. */
  publicKey: string;
  /** The WebSocket it talks through (`ws://host:port`). */
  via: string;
  /** Whether that socket is open now. */
  connected: boolean;
  /** The membership version held. */
  version: number;
  /** The members as this node sees them: name, address, and whether it has a session with each. */
  members: { name: string; address: string; session: boolean }[];
  /** The socket's counters. */
  socket: { sent: number; received: number; drops: Record<string, number> };
}

/** A mesh member in a web page: made by {@link joinMesh}. */
export interface BrowserNode {
  /** This node's name in the mesh. */
  readonly name: string;
  /** Its overlay address. */
  readonly address: string;
  /** Its public key (the private one stays in this page's memory). */
  readonly publicKey: string;
  /** Calls `service/action` on an instance of the service; resolves with its answer. */
  call(path: string, params?: unknown, opts?: RequestOptions): Promise<unknown>;
  /** Publishes `data` on `topic` to the mesh's subscribers. */
  publish(topic: string, data: unknown, opts?: PublishOptions): Promise<PublishResult>;
  /** Subscribes to the topics `pattern` matches (`news/*`, `news/>`); iterate it for events. */
  subscribe(pattern: string, opts?: SubscribeOptions): Subscription;
  /** The membership view held. */
  view(): MembershipView;
  /** What this node knows of itself and the mesh now. */
  status(): BrowserNodeStatus;
  /** Says goodbye to the mesh and closes the sockets. */
  close(): Promise<void>;
}

/** The WebSocket URL of a token's first leader, as the page's default. */
export function tokenWebSocketUrl(checked: CheckedToken, secure: boolean): string {
  const leader = checked.token.leaders[0];
  for (const e of leader.endpoints) {
    const hp = splitEndpoint(e);
    if (!hp) continue;
    const port = leader.tcpPort ?? hp.port;
    return `${secure ? "wss" : "ws"}://${formatHostPort({ host: hp.host, port })}`;
  }
  throw new Error("the token has no usable leader endpoint");
}

/** The page's own scheme: whether it was served over HTTPS (then only `wss://` is allowed). */
function pageIsSecure(): boolean {
  const loc = (globalThis as { location?: { protocol?: string } }).location;
  return loc?.protocol === "https:";
}

/**
 * Joins the mesh with `opts.token` through the leader's WebSocket and runs a member in this
 * page (or program): see the module docs. Rejects with the join's error (a refused token, no
 * answer, a socket that does not open) and leaves nothing open then.
 */
export async function joinMesh(opts: JoinMeshOptions): Promise<BrowserNode> {
  const logger = opts.logger ?? nullLogger;
  // Pure JS: no FFI, no node:crypto.
  const suite: CryptoSuite = { aead: nobleAead, dh: nobleDh };
  const checked = checkJoinToken(opts.token, suite.dh);
  const url = webSocketUrl(opts.url ?? tokenWebSocketUrl(checked, pageIsSecure())).href;
  const keys = generateKeyPair();
  const ws = { url, ...(opts.webSocket ? { webSocket: opts.webSocket } : {}) };

  const joinSocket = await WebSocketTransport.open(ws);
  const answer = await joinOver(
    {
      hostname: opts.hostname ?? "browser",
      labels: opts.labels ?? {},
      services: [],
      advertise: [],
      relay: false,
      routes: [],
      tcpPort: null,
      timeoutMs: opts.joinTimeoutMs ?? 15_000,
      suite,
      // A page looks no name up: the socket carries the request whatever the token's endpoint
      // names, so any address stands for it.
      lookup: () => Promise.resolve(["0.0.0.0"]),
    },
    checked,
    keys.privateKey,
    logger,
    { transport: joinSocket, hasTcp: false, receiver: newJoinReceiver() },
  );
  logger.info("joined", { name: answer.member.name, address: answer.member.address, via: url });

  const socket = await WebSocketTransport.open({
    ...ws,
    onClose: (why) => logger.warn("websocket closed", { url, why }),
  });
  try {
    return startNode(answer, keys, socket, opts, logger, suite);
  } catch (e) {
    await socket.close();
    throw e;
  }
}

/** The parts of a joined node, started. */
function startNode(
  answer: Awaited<ReturnType<typeof joinOver>>,
  keys: { privateKey: string; publicKey: string },
  socket: WebSocketTransport,
  opts: JoinMeshOptions,
  logger: Logger,
  suite: CryptoSuite,
): BrowserNode {
  const self = answer.member;
  const leader = answer.leader;
  const view: MembershipView = {
    network: answer.network,
    ...(answer.network6 ? { network6: answer.network6 } : {}),
    version: 0,
    members: [leader, self],
  };
  const addresses = [`${self.address}/${Cidr.parse(answer.network).bits}`];
  if (self.address6 && answer.network6) {
    addresses.push(`${self.address6}/${Cidr.parse(answer.network6).bits}`);
  }
  const client = new RelayClient({ now: () => performance.now(), selfKey: keys.publicKey });
  const transport = new RelayMux(socket, new RelayTransport(client, socket));
  const stack = new UserspaceStack({
    ipv4: self.address,
    ...(self.address6 ? { ipv6: self.address6 } : {}),
  });
  const policy = new PolicyRuntime({ members: view, logger, addresses });
  const device = new Device({
    privateKey: keys.privateKey,
    suite,
    transport,
    packets: stack,
    filter: policy.deviceFilter,
    onError: (source, e) => logger.warn("device error", { source, error: String(e) }),
  });
  const channel = new ControlChannel(stack, logger);
  const routes = new RelayRoutes({
    device,
    client,
    channel,
    leader: leader.publicKey,
    leaderEndpoint: socket.remote,
    logger,
  });
  const index = new MemberIndex();
  const peers = new MeshPeers({
    device,
    index,
    logger,
    // The leader's session is kept (the sync's hellos go there); the others' follow the calls.
    keepalive: (key) => key === leader.publicKey ? 25 : 0,
    chosenEndpoint: (key) => routes.endpointOf(key),
  });
  let services: MeshServices | null = null;
  let before = view;
  const membership = new Membership(view, {
    peers: { apply: (v, change) => peers.apply(v, false, change) },
    policy,
    parts: {
      viewChanged: (v) => {
        routes.viewChanged(v);
        services?.viewChanged(before, v);
        before = v;
      },
    },
  });
  services = new MeshServices({
    stack,
    publicKey: keys.publicKey,
    address: self.address,
    view: () => membership.view,
    // Nothing probes the members' health here: a call that fails is the service layer's to judge.
    peerHealth: () => undefined,
    announce: () => {},
    configured: [],
    logger,
    callRules: () => policy.engine.policy?.calls,
  });
  const sync = new NodeSync({
    channel,
    probe: (address, timeoutMs) => channel.prober.probe(address, timeoutMs),
    // A probe that waited for the leader's session or a new path timed the setup, not the path.
    generation: (key) => sessionAndPath(device.peer(key)),
    stale: (address) => channel.prober.staleAt(address),
    // No node file: a page keeps nothing across a reload, which joins again (docs/browser.md).
    state: { writeNode: () => Promise.resolve() },
    logger,
    publicKey: keys.publicKey,
    address: self.address,
    leader: { publicKey: leader.publicKey, endpoints: leader.endpoints, address: leader.address },
    name: self.name,
    view: () => membership.view,
    applyView: (v, announce) => membership.apply(v, announce),
    policy: () => policy.policy,
    usePolicy: (p) => policy.use(p, membership.view),
    advertise: { endpoints: [], services: [], labels: opts.labels ?? {} },
    // Its only path to members is the leader's relay: passing pushes on through it would cost
    // the leader more than pushing to this page itself.
    carries: false,
    inSession: (key) => {
      const p = device.peer(key);
      return p !== undefined && (p.current !== null || p.next !== null);
    },
  }, opts.syncIntervalMs === undefined ? {} : { syncIntervalMs: opts.syncIntervalMs });

  peers.apply(view);
  device.start();
  policy.start();
  services.start();
  routes.start(view);
  sync.start(null);

  let closing: Promise<void> | null = null;
  const node: BrowserNode = {
    name: self.name,
    address: self.address,
    publicKey: keys.publicKey,
    call: (path, params, o) => services.request(path, params, o),
    publish: (topic, data, o) => services.publish(topic, data, o),
    subscribe: (pattern, o) => services.subscribe(pattern, o),
    view: () => membership.view,
    status: () => ({
      name: self.name,
      address: self.address,
      publicKey: keys.publicKey,
      via: socket.remote.toString(),
      connected: socket.connected,
      version: membership.view.version,
      members: membership.view.members.filter((m) => m.publicKey !== keys.publicKey).map((m) => {
        const p = device.peer(m.publicKey);
        return { name: m.name, address: m.address, session: p?.current != null };
      }),
      socket: {
        sent: socket.stats.sent,
        received: socket.stats.received,
        drops: { ...socket.stats.drops },
      },
    }),
    close: () =>
      closing ??= (async () => {
        services.close();
        // The bye goes while the device and the socket still run.
        await sync.close();
        routes.close();
        peers.close();
        channel.close();
        policy.close();
        await device.close();
      })(),
  };
  return node;
}
