/**
 * A mesh agent: `weft --leader` or `weft --join <token>`. It runs an {@link Agent} whose peers
 * are the other members, keeps membership in sync through the leader, and persists what it needs
 * to restart alone. Node-to-node sessions are direct, so traffic does not depend on the leader.
 * @module
 */

import {
  Agent,
  type AgentOptions,
  type ControlledAgent,
  type UnderlayKind,
} from "../agent/agent.ts";
import type { BackendName, Dh } from "../crypto/types.ts";
import { selectSuite } from "../crypto/select.ts";
import { encodeKey, parseKey, publicKeyOf } from "../crypto/keys.ts";
import type { Endpoint } from "../io/driver.ts";
import type { ProtocolTimers } from "../protocol/constants.ts";
import { createLogger, type Logger } from "../log/logger.ts";
import { Cidr } from "../net/cidr.ts";
import { DenoUdpTransport } from "../../drivers/udp_deno.ts";
import { LinuxUdpTransport } from "../../drivers/linux/udp.ts";
import type { Transport } from "../io/driver.ts";
import { DEFAULT_JOIN_HOLD_MS, type JoinRequest, LeaderCore, LeaderError } from "./leader.ts";
import { type NodeFile, SerialWriter, StateDir } from "./state.ts";
import { decodeToken, encodeToken, hashSecret, type TokenPayload } from "./token.ts";
import { decodeBase64 } from "../crypto/base64.ts";
import {
  joinMac1Key,
  MSG_JOIN_COOKIE,
  MSG_JOIN_REQUEST,
  MSG_JOIN_RESPONSE,
  openJoinCookie,
  openJoinRequest,
  openJoinResponse,
  requestTokenId,
  sealJoinRequest,
  setJoinMac2,
  tokenIdNumber,
} from "./join_crypto.ts";
import { JoinGate } from "./join_gate.ts";
import { LogBudget } from "../log/budget.ts";
import type { Member, MembershipView, ServiceSpec } from "../members/member.ts";
import {
  type ControlMessage,
  deltaParts,
  parseMessage,
  PolicyAssembler,
  policyParts,
  Prober,
  sendMessage,
  ViewAssembler,
  viewParts,
} from "./sync.ts";
import { isControlTraffic } from "../../drivers/split.ts";
import type { UserspaceStack } from "../../drivers/userspace.ts";
import { CONTROL_PORT } from "../members/ports.ts";
import { readU32 } from "../protocol/bytes.ts";
import { overlappingRoute } from "./routes.ts";
import { validEndpoints, validLabels, validServices } from "../members/validate.ts";
import { clip } from "../text/quote.ts";
import { EndpointResolver, isIpEndpoint, type NameLookup, splitEndpoint } from "../net/resolve.ts";
import { PeerNames } from "./peer_names.ts";
import { type DnsServer, serveDns } from "../dns/server.ts";
import type { HealthOptions } from "../health/health.ts";
import { PolicyEngine } from "../policy/engine.ts";
import { PolicyFilter, type PolicyStats } from "../policy/filter.ts";
import { parsePolicy } from "../policy/parse.ts";
import type { VersionedPolicy } from "./policy_source.ts";
import { ownLabelsProblem, splitLabels } from "../members/labels.ts";
import { RateLimiter } from "../protocol/ratelimiter.ts";

/** How a mesh agent starts. */
export interface MeshOptions {
  /** `leader` starts (or restarts) a mesh; `node` joins one (or restarts a joined node). */
  role: "leader" | "node";
  /** The join token (a fresh node only). */
  token?: string;
  /** Where keys and state live. */
  stateDir: string;
  /** The mesh network (leader). Default `10.200.0.0/16`. */
  network?: string;
  /** An IPv6 mesh network (leader), allocated alongside the IPv4 one. */
  network6?: string;
  /** UDP listen port. Default 51820. */
  listenPort?: number;
  /** TUN interface name. Default `weft0`. */
  interfaceName?: string;
  /** No TUN: the userspace stack. */
  userspace?: boolean;
  /** This node's name, unique in the mesh. */
  hostname: string;
  /** Endpoints to advertise (`host:port`); default: this machine's addresses. */
  advertise?: string[];
  /**
   * Labels of this node. On the leader they are its granted labels (keys under `node.weft/` are
   * kept apart as its own). A joining node cannot grant itself labels (they come from its token):
   * its keys must all be under `node.weft/`, or the start fails.
   */
  labels?: Record<string, string>;
  /** Services this node offers. */
  services?: ServiceSpec[];
  /** Keepalive to every peer, seconds. Default 25. */
  persistentKeepalive?: number;
  /** Force a crypto backend. */
  crypto?: BackendName;
  /** The logger. */
  logger?: Logger;
  /** MTU. Default 1420. */
  mtu?: number;
  /** Protocol timer overrides. */
  timers?: Partial<ProtocolTimers>;
  /** UDP implementation. */
  underlay?: UnderlayKind;
  /** Milliseconds between hellos to the leader. Default 3000. */
  syncIntervalMs?: number;
  /** How long a join may take before giving up, ms. Default 15000. */
  joinTimeoutMs?: number;
  /**
   * Leader: how long a node that was answered but never heard from (no hello, no handshake)
   * keeps its name and address, ms. Default 600000 (10 minutes).
   */
  joinHoldMs?: number;
  /** DNS port on 127.0.0.1 and the overlay address (TUN mode); 0 turns DNS off. Default 15353. */
  dnsPort?: number;
  /** The DNS zone. Default `overlay.local.`. */
  dnsZone?: string;
  /** Forward names outside the zone to the system's resolvers. */
  dnsForward?: boolean;
  /** The leader's network policy from its configuration (validated, canonical text). */
  policyText?: string;
  /** Probe peers for health (default true); simulations of large meshes turn it off. */
  probes?: boolean;
  /** Opens the underlay transport on a port (simulations use a memory network). */
  openTransport?: (port: number) => Promise<Transport>;
  /** Health thresholds and the probe interval (defaults as in `HealthOptions`). */
  health?: HealthOptions;
  /**
   * How names in endpoints (`leader.example.com:51820`) are looked up; default the system
   * resolver (getaddrinfo, so /etc/hosts counts).
   */
  lookup?: NameLookup;
}

/** Policy drops per rule name, with the default action's drops as `(default)`. */
function policyDropsByRule(st: PolicyStats): Record<string, number> {
  const drops: Record<string, number> = { ...st.droppedByRule };
  const byDefault = st.droppedByDefault.inbound + st.droppedByDefault.outbound;
  if (byDefault) drops["(default)"] = byDefault;
  return drops;
}

/** What the mesh agent shares with the agent's collaborators, made before the agent. */
interface MeshParts {
  byKey: Map<string, Member>;
  prober: (control: UserspaceStack) => Prober;
  policyEngine: PolicyEngine;
  policyFilter: PolicyFilter;
}

/** A join the leader refused, or a token that cannot be used: bad input, exit code 2. */
export class JoinError extends Error {}

const enc = new TextEncoder();
const dec = new TextDecoder();
// Join requests resent every 250 ms before resends slow to one a second.
const FAST_RESENDS = 8;
// Join requests being handled at once (opened, waiting for the state write); more are dropped.
const MAX_JOINS_IN_FLIGHT = 64;

function localEndpoints(port: number): string[] {
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

async function openTransport(kind: UnderlayKind, port: number): Promise<Transport> {
  return kind === "linux"
    ? await LinuxUdpTransport.open({ port })
    : await DenoUdpTransport.open({ port });
}

/** A join token checked for use: its fields, and what the request is built from. */
interface CheckedToken {
  token: TokenPayload;
  leaderKey: Uint8Array;
  tokenId: Uint8Array;
  mac1Key: Uint8Array;
}

/**
 * Checks everything in a join token before anything is created or sent; a token that cannot
 * be used is a {@link JoinError} (exit code 2) saying why.
 */
export function checkJoinToken(text: string, dh: Dh): CheckedToken {
  let token: TokenPayload;
  try {
    token = decodeToken(text);
  } catch (e) {
    throw new JoinError((e as Error).message);
  }
  let leaderKey: Uint8Array;
  try {
    leaderKey = parseKey(token.leaderKey, "leader key in the token");
    // A low-order key would make every shared secret zero: no leader can own it.
    const probe = dh.generatePrivate();
    dh.shared(probe, leaderKey);
    probe.fill(0);
  } catch (e) {
    throw new JoinError(`unusable join token: ${(e as Error).message}`);
  }
  const id = tokenIdNumber(token.id);
  const secret = decodeBase64(token.secret);
  if (id === null || !secret || secret.length === 0) {
    throw new JoinError("malformed join token: bad id or secret");
  }
  try {
    Cidr.parse(token.network);
  } catch {
    throw new JoinError("malformed join token: bad network");
  }
  if (!token.endpoints.some((e) => splitEndpoint(e))) {
    throw new JoinError("the token has no usable leader endpoint");
  }
  const tokenId = new Uint8Array(6);
  for (let i = 0; i < 6; i++) tokenId[i] = parseInt(token.id.slice(2 * i, 2 * i + 2), 16);
  const mac1Key = joinMac1Key(leaderKey, decodeBase64(hashSecret(token.secret))!);
  return { token, leaderKey, tokenId, mac1Key };
}

/** Runs the join exchange from the listen port; resolves with the leader's answer. */
async function requestJoin(
  opts: MeshOptions,
  checked: CheckedToken,
  privateKey: string,
  underlay: UnderlayKind,
  logger: Logger,
): Promise<
  { member: Member; leader: Member; network: string; network6?: string; version: number }
> {
  const { token, leaderKey } = checked;
  const suite = selectSuite(opts.crypto);
  const req: JoinRequest = {
    tokenId: token.id,
    secret: token.secret,
    publicKey: encodeKey(
      publicKeyOf(parseKey(privateKey, "private key")),
    ),
    hostname: opts.hostname,
    labels: opts.labels ?? {},
    services: opts.services ?? [],
    endpoints: opts.advertise ?? [],
    // Made once: every resend is the same request, which the leader answers the same way.
    time: Date.now(),
  };
  const port = opts.listenPort ?? 51820;
  const transport = opts.openTransport
    ? await opts.openTransport(port)
    : await openTransport(underlay, port);
  const { message, pending } = sealJoinRequest(
    suite.dh,
    suite.aead,
    leaderKey,
    checked.tokenId,
    checked.mac1Key,
    enc.encode(JSON.stringify(req)),
  );
  try {
    // Names are looked up now, and again each second while they fail; addresses are used as is.
    const leaderAt = new Map<string, Endpoint | null>();
    for (const e of token.endpoints) {
      if (splitEndpoint(e)) leaderAt.set(e, null);
      else logger.warn("skipping token endpoint", { endpoint: e });
    }
    const resolver = new EndpointResolver({ lookup: opts.lookup });
    const looking = new Set<string>();
    const failures = new Map<string, string>();
    const lookUp = () => {
      for (const [text, at] of leaderAt) {
        if (at || looking.has(text)) continue;
        looking.add(text);
        resolver.resolve(text).then((list) => {
          if (over) return;
          const ep = transport.endpoint(list[0]);
          if (!leaderAt.get(text)) {
            if (!isIpEndpoint(text)) {
              logger.info("leader endpoint resolved", { name: text, endpoint: list[0] });
            }
            leaderAt.set(text, ep);
            transport.send(message, ep);
            transport.flush();
            tries++;
          }
        }).catch((e) => {
          if (!failures.has(text)) {
            logger.warn("leader endpoint not resolved", {
              name: text,
              error: String(e.message ?? e),
            });
          }
          failures.set(text, String(e.message ?? e));
        }).finally(() => looking.delete(text));
      }
    };
    let retry: ReturnType<typeof setTimeout> | undefined;
    let timeout: ReturnType<typeof setTimeout> | undefined;
    let tries = 0;
    let cookies = 0;
    const started = performance.now();
    let over = false;
    const answer = await new Promise<Uint8Array>((resolve, reject) => {
      transport.start({
        datagram: (data, from) => {
          if (data.length < 8) return;
          const type = readU32(data, 0);
          if (type === MSG_JOIN_COOKIE) {
            // The leader is under load: the same request again, with mac2 from its cookie.
            const cookie = openJoinCookie(leaderKey, message, data);
            if (!cookie) return;
            setJoinMac2(message, cookie);
            cookies++;
            transport.send(message, from);
            transport.flush();
            return;
          }
          if (type !== MSG_JOIN_RESPONSE) return;
          const plain = openJoinResponse(suite.dh, suite.aead, pending, data);
          if (plain) resolve(plain.slice());
        },
        flush: () => {},
      });
      // Datagrams get lost: resend every second until answered or out of time.
      const send = () => {
        lookUp();
        let sent = false;
        for (const t of leaderAt.values()) {
          if (t) transport.send(message, t);
          sent ||= t !== null;
        }
        transport.flush();
        if (sent) tries++;
      };
      send();
      // Four times a second at first (under a flood the leader's socket drops datagrams, ours
      // among them), then every second.
      let resends = 0;
      const again = () => {
        retry = setTimeout(() => {
          send();
          again();
        }, ++resends <= FAST_RESENDS ? 250 : 1000);
      };
      again();
      timeout = setTimeout(() => {
        const where = token.endpoints.join(", ");
        const why = failures.size ? [...failures.values()].join("; ") : "the lookup did not finish";
        reject(
          tries === 0
            ? new Error(`could not resolve the leader's endpoint ${where}: ${why}`)
            : new Error(
              `no answer from the leader at ${where} after ${tries} tries (a leader that ` +
                "does not know the token's secret does not answer)",
            ),
        );
      }, opts.joinTimeoutMs ?? 15_000);
    }).finally(() => {
      over = true;
      clearTimeout(retry);
      clearTimeout(timeout);
    });
    let res;
    try {
      res = JSON.parse(dec.decode(answer));
    } catch {
      throw new Error("the leader's answer is malformed");
    }
    if (!res.ok) throw new JoinError(`join refused: ${res.error}`);
    logger.debug("join answered", {
      ms: Math.round(performance.now() - started),
      tries,
      cookies,
    });
    return res;
  } finally {
    await transport.close();
  }
}

/** A running mesh agent. See the module docs.
 *
 * @example
 * ```ts
 * import { MeshAgent } from "@weft/weft";
 * const leader = await MeshAgent.start({
 *   role: "leader", stateDir: "/tmp/weft-leader", hostname: "leader", userspace: true,
 *   listenPort: 51820,
 * });
 * const { token } = await leader.createToken({ ttlMs: 3600_000 });
 * const node = await MeshAgent.start({
 *   role: "node", token, stateDir: "/tmp/weft-node", hostname: "node1", userspace: true,
 *   listenPort: 51830,
 * });
 * console.log(node.view().members.map((m) => m.name));
 * ```
 */
export class MeshAgent {
  /** The agent (device, drivers, userspace API). */
  readonly agent: ControlledAgent;
  /** `leader` or `node`. */
  readonly role: "leader" | "node";
  /** This node's name. */
  readonly name: string;
  /** The leader's state (leader only). */
  readonly leader: LeaderCore | null;
  /** Probes peers through the tunnel. */
  readonly prober: Prober;
  /** The network policy engine (rules compiled against the membership). */
  readonly policyEngine: PolicyEngine;
  /** The stateful filter enforcing it on this node's tunnel. */
  readonly policyFilter: PolicyFilter;
  /** The DNS server, when on. */
  dns: DnsServer | null = null;
  readonly #state: StateDir;
  readonly #logger: Logger;
  // Leader only: admission before any DH, joins being handled, and a budget for the log lines
  // a token holder can cause.
  #joinGate: JoinGate | null = null;
  #joinsInFlight = 0;
  readonly #joinLog = new LogBudget();
  readonly #keepalive: number;
  readonly #applied = new Map<string, string>();
  readonly #listeners = new Set<(v: MembershipView) => void>();
  readonly #assembler = new ViewAssembler();
  readonly #byKey: Map<string, Member>;
  readonly #policyAssembler = new PolicyAssembler();
  #policy: VersionedPolicy | null = null;
  #sweep: ReturnType<typeof setInterval> | undefined;
  #startPolicy: VersionedPolicy | null = null;
  #nodeSnapshot: NodeFile | null = null;
  readonly #nodeWriter: SerialWriter;
  #view: MembershipView;
  #leaderInfo: { publicKey: string; address: string; endpoints: string[] } | null;
  #timer: ReturnType<typeof setInterval> | undefined;
  #stopLeaderWatch: (() => void) | null = null;
  #closed = false;
  #advertise: string[];
  readonly #syncInterval: number;
  readonly #names: PeerNames;
  #services: ServiceSpec[];
  #labels: Record<string, string>;
  #labelsDropped = 0;
  // One log line per member a minute for labels it claimed and may not set.
  readonly #labelLog = new RateLimiter({ perSecond: 1 / 60, burst: 1, maxEntries: 4096 });

  private constructor(
    agent: ControlledAgent,
    parts: MeshParts,
    opts: MeshOptions,
    leader: LeaderCore | null,
    view: MembershipView,
    leaderInfo: { publicKey: string; address: string; endpoints: string[] } | null,
    state: StateDir,
    logger: Logger,
  ) {
    this.agent = agent;
    this.#byKey = parts.byKey;
    this.prober = parts.prober(agent.control);
    this.policyEngine = parts.policyEngine;
    this.policyFilter = parts.policyFilter;
    this.#nodeWriter = new SerialWriter(() =>
      this.#nodeSnapshot ? state.writeNode(this.#nodeSnapshot) : Promise.resolve()
    );
    this.role = opts.role;
    this.name = opts.hostname;
    this.leader = leader;
    this.#view = view;
    this.#leaderInfo = leaderInfo;
    this.#state = state;
    this.#logger = logger;
    this.#keepalive = opts.persistentKeepalive ?? 25;
    this.#syncInterval = opts.syncIntervalMs ?? 3000;
    this.#advertise = opts.advertise ?? [];
    this.#services = opts.services ?? [];
    this.#labels = opts.labels ?? {};
    this.#names = new PeerNames({
      resolver: new EndpointResolver({ lookup: opts.lookup }),
      logger,
      port: {
        progress: (key) => {
          const p = agent.device.peer(key);
          return p
            ? { initiations: p.counters.initiationsSent, lastHandshake: p.lastHandshakeUnixMs }
            : null;
        },
        setEndpoint: (key, endpoint) => {
          const p = agent.device.peer(key);
          if (!p || p.endpoint?.toString() === endpoint) return false;
          p.endpoint = agent.device.endpoint(endpoint);
          // Whatever waited for an endpoint goes now, and a stale one is confirmed or replaced.
          agent.device.initiateHandshake(key);
          return true;
        },
      },
    });
    this.#sweep = setInterval(() => this.policyFilter.sweep(), 10_000);
  }

  /**
   * The collaborators the agent is started with: they exist before it (the members' names, the
   * policy filter) or are made from its parts (the prober, on the control stack); the figures
   * read the mesh agent once it exists.
   */
  static #parts(opts: MeshOptions, view: MembershipView, mesh: () => MeshAgent | null): {
    parts: MeshParts;
    agent: Pick<
      AgentOptions,
      "identity" | "describePeer" | "probe" | "filter" | "metrics" | "status"
    >;
  } {
    const byKey = new Map<string, Member>();
    let prober: Prober | null = null;
    const proberOn = (control: UserspaceStack) => prober ??= new Prober(control);
    const policyEngine = new PolicyEngine({ members: view });
    const policyFilter = new PolicyFilter({ engine: policyEngine });
    const filter = policyFilter;
    return {
      parts: { byKey, prober: proberOn, policyEngine, policyFilter },
      agent: {
        identity: { name: opts.hostname, role: opts.role },
        describePeer: (key) => {
          const m = byKey.get(key);
          return { name: m?.name ?? "", address: m?.address ?? "" };
        },
        probe: opts.probes === false ? null : ({ control }) => {
          const p = proberOn(control!);
          return (address) => p.probe(address, 2000);
        },
        // The mesh's own control traffic must survive any policy, or a policy could cut a node
        // off from the membership (and from the fix for a bad policy).
        filter: {
          outbound: (p) => isControlTraffic(p, CONTROL_PORT) || filter.outbound(p),
          inbound: (p) => isControlTraffic(p, CONTROL_PORT) || filter.inbound(p),
        },
        metrics: () => {
          const drops = policyDropsByRule(policyFilter.stats());
          const m = mesh();
          const dns = m?.dns?.stats;
          // One series per (type, rcode) pair as the server counts them, so sum() counts each
          // once.
          const byTypeRcode = dns ? { ...dns.byTypeRcode } : undefined;
          const joinDrops = m ? m.#joinGate?.drops() : undefined;
          return {
            policyDrops: drops,
            ...(byTypeRcode ? { dns: { byTypeRcode } } : {}),
            ...(joinDrops ? { joinDrops } : {}),
          };
        },
        status: () => {
          const st = policyFilter.stats();
          return {
            policy: {
              version: mesh()?.policy?.version ?? 0,
              rules: st.rules,
              dropped: st.dropped,
              droppedByRule: policyDropsByRule(st),
            },
          };
        },
      },
    };
  }

  /** Starts the DNS server unless turned off; throws, naming the cause, when it cannot. */
  async #startDns(opts: MeshOptions, underlay: UnderlayKind): Promise<void> {
    const port = opts.dnsPort ?? 15353;
    if (port === 0) return;
    const overlay = this.agent.addresses[0].split("/")[0];
    // In userspace mode the overlay address is not the kernel's: serve loopback only.
    const addresses = opts.userspace ? ["127.0.0.1"] : ["127.0.0.1", overlay];
    try {
      this.dns = await serveDns({
        addresses,
        port,
        zone: opts.dnsZone,
        forward: opts.dnsForward ?? false,
        logger: this.#logger,
        // The DNS sockets follow the underlay: FFI sockets with it, node:dgram without.
        udp: underlay === "linux" ? "linux" : "node",
        source: {
          view: () => this.#view,
          healthOf: (m) =>
            m.publicKey === this.agent.device.publicKey
              ? "up"
              : this.agent.health.get(m.publicKey)?.state ?? "unknown",
        },
      });
    } catch (e) {
      // Asked for and not there: the agent must not run on without it.
      throw new Error(
        `the DNS server did not start: ${e instanceof Error ? e.message : String(e)} ` +
          "(choose another DNS port, or 0 for no DNS)",
        { cause: e },
      );
    }
    this.agent.listenerStats.dns_tcp = this.dns.listenerStats;
    this.#logger.info("dns listening", { addresses: addresses.join(","), port: this.dns.port });
  }

  /**
   * Finishes a start: makes the mesh agent over a started `agent`, starts the role's loops and
   * DNS. If any of it fails, everything opened so far is closed before the error is rethrown,
   * so a failed start leaves no socket or timer behind.
   */
  static async #launch(
    agent: ControlledAgent,
    make: () => MeshAgent,
    begin: (mesh: MeshAgent) => void,
    opts: MeshOptions,
    underlay: UnderlayKind,
    logger: Logger,
  ): Promise<MeshAgent> {
    let mesh: MeshAgent | null = null;
    try {
      mesh = make();
      begin(mesh);
      await mesh.#startDns(opts, underlay);
      return mesh;
    } catch (e) {
      try {
        await (mesh ? mesh.close() : agent.close());
      } catch (closing) {
        logger.error("closing after a failed start failed", { error: String(closing) });
      }
      throw e;
    }
  }

  /** The network policy in force, if any. */
  get policy(): VersionedPolicy | null {
    return this.#policy;
  }

  #usePolicy(p: VersionedPolicy | null): boolean {
    if (!p) {
      this.policyEngine.setPolicy(null);
      this.#policy = null;
      return true;
    }
    try {
      this.policyEngine.setMembers(this.#view);
      this.policyEngine.setPolicy(parsePolicy(p.text));
      this.#policy = p;
      this.#logger.info("policy in force", { version: p.version });
      return true;
    } catch (e) {
      // The leader validated it; a node that cannot parse it keeps the previous one.
      this.#logger.error("policy rejected", { version: p.version, error: String(e) });
      return false;
    }
  }

  /** Applies a validated policy (canonical text) at the leader and sends it to every node. */
  async applyPolicy(canonical: string): Promise<number> {
    return await this.#needLeader().setPolicy(canonical);
  }

  /** Starts a leader or a node; a fresh node joins with its token first. */
  static async start(opts: MeshOptions): Promise<MeshAgent> {
    const logger = opts.logger ?? createLogger();
    const underlay: UnderlayKind = opts.underlay ?? (Deno.build.os === "linux" ? "linux" : "deno");
    if (opts.role === "node") {
      const p = ownLabelsProblem(opts.labels ?? {});
      if (p !== undefined) throw new JoinError(p);
    }
    // A token that cannot be used is refused before anything is created on disk.
    const checked = opts.role === "node" && opts.token
      ? checkJoinToken(opts.token, selectSuite(opts.crypto).dh)
      : null;
    const state = new StateDir(opts.stateDir);
    const tightened = await state.ensure();
    if (tightened) {
      logger.warn("state directory was open to other users; tightened to 0700", {
        dir: opts.stateDir,
        was: `0${tightened.tightenedFrom.toString(8)}`,
      });
    }
    const privateKey = await state.privateKey();
    const publicKey = encodeKey(
      publicKeyOf(parseKey(privateKey, "private key")),
    );
    const port = opts.listenPort ?? 51820;
    const common = {
      privateKey,
      listenPort: port,
      mtu: opts.mtu,
      mode: opts.userspace ? "userspace" as const : "tun" as const,
      interfaceName: opts.interfaceName ?? "weft0",
      crypto: opts.crypto,
      timers: opts.timers,
      logger,
      underlay,
      control: true as const,
      health: opts.health,
    };
    const withTransport = async () =>
      opts.openTransport ? { transport: await opts.openTransport(port) } : {};

    if (opts.role === "leader") {
      if (!opts.userspace) {
        const networks = [
          opts.network ?? "10.200.0.0/16",
          ...(opts.network6 ? [opts.network6] : []),
        ];
        for (const network of networks) {
          const clash = await overlappingRoute(network, common.interfaceName);
          if (clash) throw new JoinError(`network ${network} overlaps a local route: ${clash}`);
        }
      }
      const advertise = opts.advertise?.length ? opts.advertise : localEndpoints(port);
      const core: LeaderCore = await LeaderCore.open(state, {
        network: opts.network ?? "10.200.0.0/16",
        network6: opts.network6,
        hostname: opts.hostname,
        publicKey,
        endpoints: advertise,
        labels: opts.labels,
        services: opts.services,
        joinHoldMs: opts.joinHoldMs,
      });
      if (opts.policyText !== undefined) await core.setPolicy(opts.policyText);
      const net = Cidr.parse(core.network);
      let mesh: MeshAgent | null = null;
      const { parts, agent: collaborators } = MeshAgent.#parts(opts, core.view(), () => mesh);
      const agent = await Agent.start({
        ...common,
        ...collaborators,
        ...(await withTransport()),
        addresses: [
          `${core.leader.address}/${net.bits}`,
          ...(core.network6 && core.leader.address6
            ? [`${core.leader.address6}/${Cidr.parse(core.network6).bits}`]
            : []),
        ],
        onForeignDatagram: (data, from) => {
          if (mesh) mesh.#onJoinDatagram(data, from);
        },
      });
      return await MeshAgent.#launch(
        agent,
        () =>
          mesh = new MeshAgent(
            agent,
            parts,
            { ...opts, advertise },
            core,
            core.view(),
            null,
            state,
            logger,
          ),
        (m) => m.#startLeader(opts.joinHoldMs ?? DEFAULT_JOIN_HOLD_MS),
        opts,
        underlay,
        logger,
      );
    }

    let node = await state.readNode();
    if (!node) {
      if (!checked) {
        throw new JoinError(
          `${opts.stateDir} holds no joined node: give a token with --join`,
        );
      }
      const res = await requestJoin(opts, checked, privateKey, underlay, logger);
      node = {
        format: 1,
        address: res.member.address,
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
      await state.writeNode(node);
      logger.info("joined", {
        address: node.address,
        network: res.network,
        leader: res.leader.name,
      });
    } else if (opts.token) {
      logger.info("already joined; the token is not needed and was not used", {});
    }
    const net = Cidr.parse(node.view.network);
    let mesh: MeshAgent | null = null;
    const { parts, agent: collaborators } = MeshAgent.#parts(opts, node.view, () => mesh);
    const agent = await Agent.start({
      ...common,
      ...collaborators,
      ...(await withTransport()),
      addresses: [
        `${node.address}/${net.bits}`,
        ...(() => {
          const me = node.view.members.find((m) => m.address === node!.address);
          return me?.address6 && node.view.network6
            ? [`${me.address6}/${Cidr.parse(node.view.network6).bits}`]
            : [];
        })(),
      ],
      onForeignDatagram: () => {},
    });
    const joined = node;
    return await MeshAgent.#launch(
      agent,
      () =>
        mesh = new MeshAgent(
          agent,
          parts,
          opts,
          null,
          joined.view,
          joined.leader,
          state,
          logger,
        ),
      (m) => {
        m.#startPolicy = joined.policy ?? null;
        m.#startNode();
      },
      opts,
      underlay,
      logger,
    );
  }

  /** This node's own member record in the current view. */
  get self(): Member | undefined {
    return this.#view.members.find((m) => m.publicKey === this.agent.device.publicKey);
  }

  /** The membership view this node holds. */
  view(): MembershipView {
    return this.#view;
  }

  /** Subscribes to membership changes; returns the unsubscribe function. */
  onMembership(fn: (v: MembershipView) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Creates a join token (leader only). */
  async createToken(
    opts: { ttlMs?: number; uses?: number | null; labels?: Record<string, string> } = {},
  ): Promise<{ id: string; token: string; expiresAt: number }> {
    const core = this.#needLeader();
    const t = await core.createToken({
      ttlMs: opts.ttlMs ?? 24 * 3600_000,
      uses: opts.uses ?? null,
      labels: opts.labels ?? {},
    });
    const token = encodeToken({
      leaderKey: this.agent.device.publicKey,
      endpoints: core.leader.endpoints,
      network: core.network,
      id: t.id,
      secret: t.secret,
    });
    this.#logger.info("token created", {
      id: t.id,
      expiresAt: new Date(t.expiresAt).toISOString(),
    });
    return { id: t.id, token, expiresAt: t.expiresAt };
  }

  #needLeader(): LeaderCore {
    if (!this.leader) throw new LeaderError("this node is not the leader");
    return this.leader;
  }

  // ---- leader side ----

  #startLeader(holdMs: number): void {
    const core = this.leader!;
    this.#apply(core.view());
    this.#usePolicy(core.policy());
    core.onPolicy((p) => {
      this.#usePolicy(p);
      for (const m of core.view().members) {
        if (m.publicKey !== this.agent.device.publicKey) {
          this.#send(m.address, { t: "changed", v: core.view().version, pv: p.version });
        }
      }
    });
    let notify: ReturnType<typeof setTimeout> | undefined;
    let notified = core.view().version;
    this.#stopLeaderWatch = core.onChange((v) => {
      this.#apply(v);
      // Bursts of changes (many joins) are announced once; nodes then pull a delta.
      notify ??= setTimeout(() => {
        notify = undefined;
        const now = core.view();
        // Small changes travel with the notice: nodes that hold the previous version apply them
        // at once, without asking back; the others pull as usual.
        const delta = notified > 0 ? core.changesSince(notified) : null;
        const parts = delta ? deltaParts(notified, now, delta) : [];
        const msgs: ControlMessage[] = parts.length > 0 && parts.length <= 4
          ? parts
          : [{ t: "changed", v: now.version, pv: core.policy()?.version }];
        for (const m of now.members) {
          if (m.publicKey === this.agent.device.publicKey) continue;
          for (const msg of msgs) this.#send(m.address, msg);
        }
        notified = now.version;
      }, 50);
    });
    // Allocations whose answer never arrived are released after the hold time.
    const release = setInterval(() => this.#releaseUnheard(), Math.min(holdMs / 2, 30_000));
    const gate = new JoinGate(parseKey(this.agent.device.publicKey, "key"));
    gate.setTokens(core.tokenKeys());
    const stopTokens = core.onTokens(() => gate.setTokens(core.tokenKeys()));
    this.#joinGate = gate;
    const stop = this.#stopLeaderWatch;
    this.#stopLeaderWatch = () => {
      stop();
      stopTokens();
      if (notify) clearTimeout(notify);
      clearInterval(release);
    };
    this.agent.control.listen(
      CONTROL_PORT,
      (data, from) => this.#onLeaderMessage(data, from.address),
    );
  }

  #releaseUnheard(): void {
    const device = this.agent.device;
    // A completed handshake means the node got its answer, hello or not.
    const heard = (key: string) => (device.peer(key)?.lastHandshakeUnixMs ?? 0) > 0;
    this.leader!.releaseUnheard(Date.now(), heard).then((released) => {
      for (const m of released) {
        this.#logger.warn("join released: the node was never heard from", {
          name: m.name,
          address: m.address,
        });
      }
    }).catch((e) => this.#logger.error("releasing unheard joins failed", { error: String(e) }));
  }

  #onJoinDatagram(data: Uint8Array, from: Endpoint): void {
    const gate = this.#joinGate;
    if (!gate || !this.leader) return;
    if (readU32(data, 0) !== MSG_JOIN_REQUEST) {
      // Not ours either: counted as the device counts any message of no known type.
      this.agent.device.drops.add("unknown-type");
      return;
    }
    const verdict = gate.check(data, from);
    if (verdict === "cookie") this.agent.device.sendDatagram(gate.reply.slice(), from);
    if (verdict !== "open") return;
    // Each request being handled holds a DH's result and a queued change: bounded.
    if (this.#joinsInFlight >= MAX_JOINS_IN_FLIGHT) {
      gate.drop("busy");
      return;
    }
    const priv = this.agent.device.privateKeyBytes();
    const opened = openJoinRequest(
      this.agent.device.dhBackend,
      this.agent.device.aeadBackend,
      priv,
      parseKey(this.agent.device.publicKey, "key"),
      data,
    );
    priv.fill(0);
    if (!opened) {
      gate.drop("decrypt");
      return;
    }
    const answer = (res: unknown) =>
      this.agent.device.sendDatagram(opened.respond(enc.encode(JSON.stringify(res))), from);
    let req: JoinRequest;
    try {
      const raw = JSON.parse(dec.decode(opened.payload));
      const labels = validLabels(raw.labels);
      const services = validServices(raw.services);
      const endpoints = validEndpoints(raw.endpoints);
      if (
        typeof raw.publicKey !== "string" || typeof raw.hostname !== "string" ||
        typeof raw.tokenId !== "string" || typeof raw.secret !== "string" ||
        !Number.isSafeInteger(raw.time) || raw.time <= 0 ||
        // The token the MAC was checked with is the token presented.
        tokenIdNumber(raw.tokenId) !== requestTokenId(data) ||
        !labels || !services || !endpoints
      ) throw new Error("malformed");
      parseKey(raw.publicKey, "joiner key");
      req = {
        tokenId: raw.tokenId,
        secret: raw.secret,
        publicKey: raw.publicKey,
        hostname: raw.hostname,
        labels,
        services,
        endpoints,
        time: raw.time,
      };
    } catch {
      gate.drop("malformed");
      answer({ ok: false, error: "malformed request" });
      return;
    }
    const observed = from.toString();
    // A new member is always logged; repeated answers and refusals, which a token holder can
    // cause at will, within a budget.
    const known = this.leader.view().members.some((m) => m.publicKey === req.publicKey);
    this.#joinsInFlight++;
    this.leader.join(req, observed).then((res) => {
      if (!res.ok && res.error.startsWith("stale")) gate.drop("stale");
      const suppressed = res.ok && !known ? 0 : this.#joinLog.take();
      if (suppressed !== null) {
        const more = suppressed ? { suppressed } : {};
        if (res.ok) {
          this.#logger.info("node joined", {
            name: res.member.name,
            address: res.member.address,
            endpoint: observed,
            ...more,
          });
        } else {
          this.#logger.warn("join refused", {
            hostname: clip(req.hostname),
            reason: res.error,
            endpoint: observed,
            ...more,
          });
        }
      }
      answer(res);
    }).catch((e) => {
      // Nothing was allocated: the joiner hears why instead of waiting for its timeout.
      this.#logger.error("join failed", { hostname: clip(req.hostname), error: String(e) });
      answer({ ok: false, error: "the leader could not save the join (see its log)" });
    }).finally(() => this.#joinsInFlight--);
  }

  #onLeaderMessage(data: Uint8Array, from: string): void {
    const msg = parseMessage(data);
    if (!msg) return;
    if (this.prober.handle(msg, from)) return;
    if (msg.t !== "hello") return;
    const core = this.leader!;
    const member = core.member(from);
    if (!member) return;
    const peer = this.agent.device.peer(member.publicKey);
    const observed = peer?.endpoint?.toString();
    // A hello with malformed fields still counts as a hello; its fields are ignored.
    const advertised = validEndpoints(msg.endpoints) ?? [];
    const services = validServices(msg.services) ?? undefined;
    const labels = msg.labels === undefined ? null : validLabels(msg.labels);
    const own = labels ? splitLabels(labels) : null;
    if (own) this.#dropGranted(member, Object.keys(own.granted));
    const endpoints = [...(observed ? [observed] : []), ...advertised];
    core.heardFrom(member.publicKey).catch((e) =>
      this.#logger.error("recording a hello failed", { error: String(e) })
    );
    core.updateMember(member.publicKey, {
      endpoints,
      services,
      nodeLabels: own?.asserted,
    }).then(() => {
      const policy = core.policy();
      if (policy && msg.pv !== policy.version) {
        for (const part of policyParts(policy)) this.#send(from, part);
      }
      const view = core.view();
      if (msg.v === view.version) return;
      // A node that is only a little behind gets what changed; one that is far behind, or
      // new, the whole view.
      const delta = msg.v > 0 ? core.changesSince(msg.v) : null;
      const parts = delta ? deltaParts(msg.v, view, delta) : viewParts(view);
      for (const part of parts) this.#send(from, part);
    }).catch((e) => this.#logger.error("member update failed", { error: String(e) }));
  }

  /** Labels that nodes claimed outside `node.weft/` (in a join or a hello), dropped. */
  get labelsDropped(): number {
    return this.#labelsDropped + (this.leader?.labelsDropped ?? 0);
  }

  /** Counts (and logs, rate-limited) labels a node claimed that only the leader may grant. */
  #dropGranted(member: Member, keys: string[]): void {
    if (keys.length === 0) return;
    this.#labelsDropped += keys.length;
    if (!this.#labelLog.allow(member.publicKey)) return;
    this.#logger.warn("labels a node claimed for itself were dropped", {
      name: member.name,
      keys: keys.slice(0, 8).join(","),
      dropped: this.#labelsDropped,
    });
  }

  /**
   * Replaces the services this node advertises (served in every node's DNS once the leader has
   * them). Resolves when the leader has them (leader) or when they were sent (node).
   */
  async setServices(services: ServiceSpec[]): Promise<void> {
    this.#services = services.map((x) => ({ ...x }));
    if (this.leader) {
      await this.leader.updateMember(this.agent.device.publicKey, { services: this.#services });
    } else {
      this.#hello();
    }
  }

  /** Removes a node from the mesh (leader only). */
  async removeNode(nameOrAddress: string): Promise<Member> {
    const m = await this.#needLeader().removeNode(nameOrAddress);
    this.#logger.info("node removed", { name: m.name, address: m.address });
    return m;
  }

  // ---- node side ----

  #startNode(): void {
    this.#apply(this.#view, true);
    if (this.#startPolicy) this.#usePolicy(this.#startPolicy);
    const control = this.agent.control;
    control.listen(CONTROL_PORT, (data, from) => {
      const msg = parseMessage(data);
      if (!msg || this.prober.handle(msg, from.address)) return;
      if (from.address !== this.#leaderInfo?.address) return;
      if (
        msg.t === "changed" &&
        (msg.v !== this.#view.version || (msg.pv ?? 0) !== (this.#policy?.version ?? 0))
      ) this.#hello();
      if (msg.t === "policy") {
        const p = this.#policyAssembler.add(msg);
        if (p && p.version !== this.#policy?.version && this.#usePolicy(p)) this.#saveNode();
      }
      if (msg.t === "delta" && msg.from !== this.#view.version) {
        if (msg.part === 0 && msg.v !== this.#view.version) this.#hello();
        return;
      }
      if (msg.t === "view" || msg.t === "delta") {
        const v = this.#assembler.add(msg, this.#view);
        if (v && v.version !== this.#view.version) this.#onView(v);
      }
    });
    this.#hello();
    this.#timer = setInterval(() => this.#hello(), this.#syncInterval);
  }

  #hello(): void {
    if (!this.#leaderInfo) return;
    this.#send(this.#leaderInfo.address, {
      t: "hello",
      v: this.#view.version,
      pv: this.#policy?.version ?? 0,
      endpoints: this.#advertise,
      services: this.#services,
      labels: this.#labels,
    });
  }

  #onView(v: MembershipView): void {
    const me = this.agent.device.publicKey;
    if (!v.members.some((m) => m.publicKey === me)) {
      this.#logger.warn("this node was removed from the mesh", {});
    }
    const leader = v.members.find((m) => m.role === "leader");
    if (leader) {
      this.#leaderInfo = {
        publicKey: leader.publicKey,
        address: leader.address,
        endpoints: leader.endpoints,
      };
    }
    this.#apply(v);
    this.#saveNode();
  }

  #saveNode(): void {
    const address = this.self?.address ?? this.agent.addresses[0].split("/")[0];
    this.#nodeSnapshot = {
      format: 1,
      address,
      leader: this.#leaderInfo!,
      view: this.#view,
      policy: this.#policy ?? undefined,
    };
    // Once closing, close() makes the last write itself: a write started here would race it
    // (and the removal of a test's state directory) unawaited.
    if (this.#closed) return;
    this.#nodeWriter.save().catch((e) =>
      this.#logger.error("saving state failed", { error: String(e) })
    );
  }

  // ---- both ----

  #send(address: string, msg: ControlMessage): void {
    try {
      sendMessage(this.agent.control, address, msg);
    } catch (e) {
      this.#logger.debug("control send failed", { to: address, error: String(e) });
    }
  }

  /** Makes the device's peers match a view: every other member, with its /32. */
  #apply(v: MembershipView, initial = false): void {
    const me = this.agent.device.publicKey;
    const device = this.agent.device;
    let others = 0;
    for (const m of v.members) {
      if (m.publicKey === me) continue;
      others++;
      // Deltas keep the record objects of unchanged members: those cost one map lookup, so a
      // change costs each node little even in a mesh of a thousand.
      if (this.#byKey.get(m.publicKey) === m && device.peer(m.publicKey)) continue;
      this.#byKey.set(m.publicKey, m);
      // The first endpoint is the best; a name is resolved off this path (meanwhile the first
      // address in the list, if any, serves).
      const first = m.endpoints[0] as string | undefined;
      const named = first !== undefined && !isIpEndpoint(first);
      const endpoint = named ? m.endpoints.find(isIpEndpoint) : first;
      const allowed = [`${m.address}/32`, ...(m.address6 ? [`${m.address6}/128`] : [])];
      const key = JSON.stringify([endpoint, allowed, named ? first : null]);
      if (this.#applied.get(m.publicKey) === key && device.peer(m.publicKey)) continue;
      const prev = this.#applied.get(m.publicKey);
      const prevEndpoint = prev ? JSON.parse(prev)[0] : undefined;
      try {
        device.setPeer({
          publicKey: m.publicKey,
          allowedIps: allowed,
          // An endpoint learned from the peer's own packets wins until the view's changes.
          endpoint: !device.peer(m.publicKey)?.endpoint || prevEndpoint !== endpoint
            ? endpoint
            : undefined,
          persistentKeepalive: this.#keepalive,
        });
        this.#applied.set(m.publicKey, key);
        if (named) this.#names.track(m.publicKey, first);
        else this.#names.untrack(m.publicKey);
      } catch (e) {
        this.#logger.warn("bad member record", { name: m.name, error: String(e) });
      }
    }
    if (device.peerCount > others || this.#byKey.size > others) {
      const wanted = new Set(v.members.map((m) => m.publicKey));
      for (const p of device.peers()) {
        if (!wanted.has(p.publicKeyText)) {
          device.removePeer(p.publicKeyText);
          this.#applied.delete(p.publicKeyText);
          this.#names.untrack(p.publicKeyText);
          this.#logger.info("peer removed", { publicKey: p.publicKeyText });
        }
      }
      for (const k of this.#byKey.keys()) if (!wanted.has(k)) this.#byKey.delete(k);
    }
    const changed = v.version !== this.#view.version;
    this.#view = v;
    // Without a policy the engine has nothing to compile; it gets the members when one comes.
    if (this.#policy) this.policyEngine?.setMembers(v);
    if (changed || initial) { for (const l of this.#listeners) l(v); }
  }

  /**
   * Stops the agent; state stays on disk. Everything is closed even when the final state write
   * fails, and then this rejects (naming the cause): what was not written is lost.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    clearInterval(this.#sweep);
    this.#names.close();
    this.#stopLeaderWatch?.();
    this.prober.close();
    const failures: string[] = [];
    const finalWrite = async (file: string, write: () => Promise<void>): Promise<void> => {
      try {
        await write();
      } catch (e) {
        this.#logger.error("final state write failed", { file, error: String(e) });
        failures.push(`${this.#state.path(file)}: ${String(e)}`);
      }
    };
    if (this.leader) await finalWrite("leader.json", () => this.leader!.flush());
    if (this.#nodeSnapshot) await finalWrite("node.json", () => this.#nodeWriter.save());
    await this.dns?.close();
    await this.agent.close();
    if (failures.length) {
      throw new Error(`state not saved at shutdown: ${failures.join("; ")}`);
    }
  }
}
