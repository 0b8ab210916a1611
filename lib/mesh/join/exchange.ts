/**
 * The join exchange itself, on whatever link carries it (lib/mesh/join/client.ts opens UDP and
 * TCP sockets for it; the browser build a WebSocket): a token checked entirely before anything is
 * created, then a request sealed to the leader's static key, resent until answered (fast at first,
 * as a flooded leader drops datagrams, then less and less often, as a leader behind reads every
 * copy: ./resend.ts), with mac2 from the leader's cookie when it is under load.
 * The leader's endpoints may be names, looked up again while they fail.
 *
 * Where the link has TCP as well (`hasTcp`), the request goes over TCP too once UDP has gone
 * unanswered for 2 s: framed on a connection to each of the leader's endpoints
 * (`tcp://host:port`, the port the token's `tcpPort` or else the endpoint's). The leader answers
 * on that connection; the answer says which way it came (`joinedOver`). Where framed TCP does not
 * get through either (a network that lets out HTTP only), the request goes as a WebSocket message
 * too, to `ws://` on the same port, once TCP has gone unanswered for 2 s more (4 s into the
 * join).
 *
 * A token names every leader of the mesh (the one that made it first): the join asks them in
 * turn, each for its share of the join's time (at least 4 s), so a leader that is down costs its
 * share and the next answers. A leader whose store refused the join (no quorum, unreachable)
 * is passed over too; when every leader refused so, the join fails with that refusal.
 *
 * A leader does not answer a request for a token it does not know (an unauthenticated sender
 * learns nothing), so a join that gets no answer says what it saw of each endpoint instead
 * ({@link describeUnanswered}): a TCP port that refused the connection (no weft listens there:
 * the leader is not running), one that took the connection and never answered (a leader that does
 * not know the token), or nothing at all (down, or a firewall). UDP alone cannot tell them apart:
 * an unconnected socket is not told of an ICMP port unreachable. When every endpoint of a leader
 * refused the connection several times in a row, the join stops asking it at once.
 * @module
 */

import type { CryptoSuite, Dh } from "../../crypto/types.ts";
import { encodeKey, parseKey, publicKeyOf } from "../../crypto/keys.ts";
import { decodeBase64, encodeBase64 } from "../../crypto/base64.ts";
import { type Endpoint, isStreamEndpoint, type Transport } from "../../io/driver.ts";
import type { Logger } from "../../log/logger.ts";
import { joinResendDelayMs } from "./resend.ts";
import type { Member, ServiceSpec } from "../../members/member.ts";
import { Cidr } from "../../net/cidr.ts";
import {
  EndpointResolver,
  isIpEndpoint,
  type NameLookup,
  splitEndpoint,
} from "../../net/resolve.ts";
import { readU32 } from "../../protocol/bytes.ts";
import type { TcpDialOutcome } from "../../../drivers/tcp.ts";
import { formatHostPort } from "../../net/hostport.ts";
import type { JoinRequest } from "./request.ts";
import { joinKeyProof } from "./key_proof.ts";
import {
  type DecodedToken,
  decodeToken,
  hashSecret,
  type TokenLeader,
  type TokenPayload,
} from "./token.ts";
import {
  joinMac1Key,
  MSG_JOIN_COOKIE,
  MSG_JOIN_RESPONSE,
  openJoinCookie,
  openJoinResponse,
  sealJoinRequest,
  setJoinMac2,
  tokenIdNumber,
} from "./crypto.ts";

/** What the request says of the joiner, how long the join may take, and how it computes. */
export interface JoinExchangeOptions {
  /** The name asked for. */
  hostname: string;
  /** This node's own labels (`node.weft/` ones). */
  labels: Record<string, string>;
  /** The services it offers. */
  services: ServiceSpec[];
  /** The endpoints it advertises (none: the leader takes what it sees). */
  advertise: string[];
  /** It offers to relay (the token must grant it). */
  relay: boolean;
  /** The routes it advertises. */
  routes: string[];
  /** Its TCP port, when known before its agent opens it; null: none said. */
  tcpPort: number | null;
  /** How long the whole join may take, ms. */
  timeoutMs: number;
  /** The crypto backends of the request and the answer. */
  suite: CryptoSuite;
  /** How names in the token's endpoints are looked up. */
  lookup?: NameLookup;
}

/** Where the datagrams the join's transport receives go: the leader being asked. */
export interface JoinReceiver {
  /** Each datagram received. */
  on: ((data: Uint8Array, from: Endpoint) => void) | null;
  /**
   * How each TCP or WebSocket dial ended, for the leader being asked; `proxy` when it failed at
   * the HTTP proxy dialled through (what the proxy said, and whether that refuses as a closed port
   * does); `upgrade` when a WebSocket's server answered but did not upgrade (what it answered).
   */
  dialed:
    | ((to: Endpoint, outcome: TcpDialOutcome, proxy?: ProxyRefusal, upgrade?: string) => void)
    | null;
}

/** A TCP dial that failed at the HTTP proxy it went through. */
export interface ProxyRefusal {
  /** What the proxy said (no credentials). */
  message: string;
  /** It refuses as a closed port does (unreachable, denied); false: it only timed out. */
  refused: boolean;
}

/** What the join goes over: its transport (not started yet), and where what it hears goes. */
export interface JoinLink {
  /** The transport the requests go out on; {@link joinOver} starts and closes it. */
  transport: Transport;
  /** Whether it carries `tcp://` endpoints as well (the fallback after 2 s unanswered over UDP). */
  hasTcp: boolean;
  /** Where it hands datagrams and dial outcomes (made with {@link newJoinReceiver}). */
  receiver: JoinReceiver;
}

/** A receiver nobody listens to yet. */
export function newJoinReceiver(): JoinReceiver {
  return { on: null, dialed: null };
}

/**
 * A join that cannot be made as given: a token that cannot be used, or a leader's refusal of what
 * the joiner was given (its token: unknown, expired, revoked, used up, the one it was removed
 * with; its flags: a host name that is no DNS label, a leader's key). Bad input, exit code 2: the
 * same join again is refused the same way.
 */
export class JoinError extends Error {}

/**
 * A join refused for a cause that is not the joiner's input, so not a {@link JoinError} (exit
 * code 1): every leader's store refused the write (no quorum, unreachable), or the leader's
 * state or the clocks (a full network, a request time stale or ahead of the leader's clock, a
 * leader that could not save the join). Its message is `join refused: <why>`.
 */
export class JoinUnavailableError extends Error {}

// The least time each leader gets before the join asks the next one: 2 s over UDP, then TCP.
const MIN_LEADER_MS = 4000;

const enc = new TextEncoder();
const dec = new TextDecoder();
// A request unanswered over UDP this long goes over TCP as well (a resend at that moment).
const TCP_AFTER_MS = 2000;
// And unanswered this much longer over TCP, as a WebSocket message too.
const WS_AFTER_TCP_MS = 2000;
// TCP dials refused in a row, on every endpoint of a leader, before the join stops asking it:
// more than one, as a leader being restarted refuses for a moment (resends are seconds apart then).
const REFUSALS_TO_GIVE_UP = 3;
/** A leader of a checked token: its key, endpoints and the mac1 key of requests to it. */
export interface CheckedLeader {
  /** The leader as the token names it. */
  leader: TokenLeader;
  /** Its static public key. */
  leaderKey: Uint8Array;
  /** The key of the request's mac1 (bound to the leader's key). */
  mac1Key: Uint8Array;
}

/** A join token checked for use: its fields, and what the request is built from. */
export interface CheckedToken {
  /** The token's fields. */
  token: DecodedToken;
  /** The first leader's static public key. */
  leaderKey: Uint8Array;
  /** The token id's six bytes, sent in clear in the request. */
  tokenId: Uint8Array;
  /** The key of the request's mac1 to the first leader. */
  mac1Key: Uint8Array;
  /** Every leader the join may ask, in the token's order (the first leader first). */
  leaders: CheckedLeader[];
}

/**
 * Checks everything in a join token before anything is created or sent; a token that cannot
 * be used is a {@link JoinError} (exit code 2) saying why.
 */
export function checkJoinToken(text: string, dh: Dh): CheckedToken {
  let token: DecodedToken;
  try {
    token = decodeToken(text);
  } catch (e) {
    throw new JoinError((e as Error).message);
  }
  const keys: Uint8Array[] = [];
  try {
    for (const l of token.leaders) {
      const key = parseKey(l.key, "leader key in the token");
      // A low-order key would make every shared secret zero: no leader can own it.
      const probe = dh.generatePrivate();
      dh.shared(probe, key);
      probe.fill(0);
      keys.push(key);
    }
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
  if (!token.leaders.some((l) => l.endpoints.some((e) => splitEndpoint(e)))) {
    throw new JoinError("the token has no usable leader endpoint");
  }
  const tokenId = new Uint8Array(6);
  for (let i = 0; i < 6; i++) tokenId[i] = parseInt(token.id.slice(2 * i, 2 * i + 2), 16);
  const secretHash = decodeBase64(hashSecret(token.secret))!;
  const leaders = token.leaders.map((leader, i) => ({
    leader,
    leaderKey: keys[i],
    mac1Key: joinMac1Key(keys[i], secretHash),
  }));
  return { token, leaderKey: keys[0], tokenId, mac1Key: leaders[0].mac1Key, leaders };
}

/** What the leader answers a join it accepted. */
export interface JoinAnswer {
  /** This node's member record. */
  member: Member;
  /** The leader's member record. */
  leader: Member;
  /** The mesh's IPv4 network. */
  network: string;
  /** The mesh's IPv6 network, if it has one. */
  network6?: string;
  /** The membership version. */
  version: number;
  /** How the answer came: over UDP, or over TCP where UDP went unanswered. */
  joinedOver: "udp" | "tcp" | "websocket";
  /** The leader's endpoint that answered (`tcp://host:port` over TCP). */
  answeredFrom: string;
  /** The public key of the leader that answered (the token's leaders are asked in turn). */
  answeredBy: string;
}

/** The leader's TCP endpoints for its token endpoints, as the join dials them (text). */
export function leaderTcpEndpoints(token: Pick<TokenPayload, "endpoints" | "tcpPort">): string[] {
  const out: string[] = [];
  for (const e of token.endpoints) {
    const hp = splitEndpoint(e);
    if (hp) out.push(`tcp://${formatHostPort({ host: hp.host, port: token.tcpPort ?? hp.port })}`);
  }
  return out;
}

/** What the join saw of one leader endpoint that did not answer it. */
export interface EndpointSeen {
  /** The endpoint as the token gives it (`host:port`). */
  endpoint: string;
  /** The TCP endpoint the join dialled for it (`tcp://host:port`); absent when TCP was not tried. */
  tcp?: string;
  /** How the last dial to `tcp` ended; absent when none ended. */
  dial?: TcpDialOutcome;
  /** Dials to `tcp` refused in a row (by the port, or by the proxy dialled through). */
  refusals: number;
  /** What the HTTP proxy said of the last dial to `tcp`, when it failed there. */
  proxy?: string;
  /** The WebSocket the join dialled for it (`ws://host:port`); absent when none was tried. */
  ws?: string;
  /** How the last dial to `ws` ended; absent when none ended. */
  wsDial?: TcpDialOutcome;
  /** Why the last dial to `ws` failed: what the proxy or the server (not upgrading) said. */
  wsWhy?: string;
  /** The leader sent a cookie from it over UDP (it is under load). */
  cookie: boolean;
  /** Why its name did not resolve, while it does not. */
  lookup?: string;
}

/**
 * The error of a leader that did not answer a join, saying what was seen of each endpoint: a
 * TCP port that refused the connection, one that took it and never answered (the likely wrong
 * token), or no reply at all; and, when the join went on to a WebSocket there, how that went.
 * `tries` requests in `ms`.
 */
export function describeUnanswered(seen: EndpointSeen[], tries: number, ms: number): string {
  const parts = seen.map((e) => {
    if (e.lookup !== undefined) return `${e.endpoint} could not be resolved: ${e.lookup}`;
    if (e.cookie) {
      return `${e.endpoint} is under load (it sent a cookie) and did not answer the join in time`;
    }
    const tcp = overTcpSaid(e);
    return e.ws === undefined ? tcp : `${tcp}, and over websocket ${overWsSaid(e.ws, e)}`;
  });
  return `no answer from the leader: ${parts.join("; ")} (${tries} tries in ` +
    `${Math.round(ms / 100) / 10} s)`;
}

/** What was seen of an endpoint over UDP and TCP. */
function overTcpSaid(e: EndpointSeen): string {
  if (e.proxy !== undefined) {
    return `no reply from ${e.endpoint} over udp, and ${e.tcp} could not be dialled through ` +
      `the proxy: ${e.proxy}` + (e.refusals > 1 ? ` (${e.refusals} times)` : "");
  }
  switch (e.dial) {
    case "connected":
      return `${e.tcp} took the connection but did not answer the join (a leader does not ` +
        "answer a token it does not know: one from another mesh, or whose secret changed; " +
        "check the token)";
    case "refused":
      return `${e.tcp} refused the connection` +
        (e.refusals > 1 ? ` ${e.refusals} times` : "") +
        " (no weft listens on that TCP port: is the leader running?)";
    case "unreachable":
      return `${e.endpoint} is unreachable (no route to it: ${e.tcp} could not be dialled)`;
    case "failed":
      return `no reply from ${e.endpoint} over udp, and ${e.tcp} could not be dialled`;
    default:
      // A dial that timed out, or is still waiting: nothing came back at all.
      if (e.tcp !== undefined) {
        return `no reply at all from ${e.endpoint} or ${e.tcp} (down, or a firewall drops it)`;
      }
      // UDP alone: a leader that is down and one that ignores the token look the same.
      return `no reply at all from ${e.endpoint} over udp (a leader that is down, behind a ` +
        "firewall, or that does not know this token does not answer)";
  }
}

/** What was seen of the WebSocket `ws` an endpoint was dialled at. */
function overWsSaid(ws: string, e: EndpointSeen): string {
  // The proxy said the same of both: once is enough.
  if (e.wsWhy !== undefined && e.wsWhy === e.proxy) {
    return `${ws} could not be dialled through the proxy either`;
  }
  switch (e.wsDial) {
    case "connected":
      return `${ws} upgraded but did not answer either`;
    case "refused":
      return `${ws} was refused too` + (e.wsWhy !== undefined ? `: ${e.wsWhy}` : "");
    case "unreachable":
      return `${ws} was unreachable too`;
    case "failed":
      // What the proxy said, or the server's answer when it did not upgrade.
      return `${ws} could not be opened` + (e.wsWhy !== undefined ? `: ${e.wsWhy}` : "");
    default:
      return `no reply from ${ws} either` + (e.wsWhy !== undefined ? ` (${e.wsWhy})` : "");
  }
}

/** One leader's answer, or why there is none. */
type Asked =
  | { answer: Uint8Array; from: Endpoint; tries: number; cookies: number }
  | { error: Error };

/**
 * Runs the join exchange on `link` (started here, closed before it resolves), asking the token's
 * leaders in turn; resolves with the first answer. A refusal of the joiner's input (the leader
 * says `usage`) is a {@link JoinError}; any other refusal, and one of every leader's store, a
 * {@link JoinUnavailableError}; no answer (in time, or every endpoint refusing the connection) an
 * Error saying what was seen of each leader's endpoints ({@link describeUnanswered}; exit code 1,
 * as the leader may be started or the token fixed). `previousName`: the name this node had (a
 * removed node joining again), asked for instead of its hostname; `run`: this run's id, for the
 * record the join makes; `beforeSend`: awaited before the first request goes (which names the
 * key: the caller saves it there).
 */
export async function joinOver(
  opts: JoinExchangeOptions,
  checked: CheckedToken,
  privateKey: string,
  logger: Logger,
  link: JoinLink,
  previousName?: string,
  run?: string,
  beforeSend?: () => Promise<void>,
): Promise<JoinAnswer> {
  const { token } = checked;
  const req: JoinRequest = {
    tokenId: token.id,
    secret: token.secret,
    publicKey: encodeKey(
      publicKeyOf(parseKey(privateKey, "private key")),
    ),
    hostname: opts.hostname,
    ...(previousName !== undefined ? { previousName } : {}),
    labels: opts.labels,
    services: opts.services,
    endpoints: opts.advertise,
    // Made once: every resend, to every leader, is the same request, which the leaders (one
    // store) answer the same way.
    time: Date.now(),
    ...(opts.relay ? { relay: true as const } : {}),
    ...(run !== undefined ? { run } : {}),
  };
  if (opts.routes.length) req.routes = [...opts.routes];
  if (opts.tcpPort !== null) req.tcpPort = opts.tcpPort;
  const { transport, receiver } = link;
  const timeoutMs = opts.timeoutMs;
  const leaders = checked.leaders;
  // Each leader's share of the join's time; one leader has it all, as before several.
  const shareMs = leaders.length === 1
    ? timeoutMs
    : Math.max(Math.min(MIN_LEADER_MS, timeoutMs), timeoutMs / leaders.length);
  const started = performance.now();
  // One start for the whole join: each leader asked in turn takes the datagrams while it is.
  transport.start({ datagram: (data, from) => receiver.on?.(data, from), flush: () => {} });
  const ask = {
    transport,
    receiver,
    hasTcp: link.hasTcp,
    tokenId: checked.tokenId,
    privateKey: parseKey(privateKey, "private key"),
  };
  try {
    await beforeSend?.();
    const unanswered: string[] = [];
    let refusal: string | null = null;
    for (const [i, leader] of leaders.entries()) {
      const asked = await askLeader(opts, ask, leader, req, shareMs, logger);
      if ("error" in asked) {
        unanswered.push(asked.error.message);
        if (i + 1 < leaders.length) {
          logger.warn("no answer from a leader: asking the next", {
            endpoints: leader.leader.endpoints.join(","),
          });
        }
        continue;
      }
      let res;
      try {
        res = JSON.parse(dec.decode(asked.answer));
      } catch {
        throw new Error("the leader's answer is malformed");
      }
      if (!res.ok) {
        // The leader's store refused: another leader may reach the store (a partition).
        if (res.store === true && typeof res.error === "string") {
          refusal = res.error;
          logger.warn("a leader's store refused the join", {
            endpoints: leader.leader.endpoints.join(","),
            error: res.error,
          });
          continue;
        }
        const why = `join refused: ${res.error}`;
        throw res.usage === true ? new JoinError(why) : new JoinUnavailableError(why);
      }
      const from = asked.from;
      const joinedOver = from.proto === "tcp"
        ? "tcp"
        : from.proto === "ws" || from.proto === "wss"
        ? "websocket"
        : "udp";
      logger.debug("join answered", {
        ms: Math.round(performance.now() - started),
        tries: asked.tries,
        cookies: asked.cookies,
      });
      if (joinedOver !== "udp") {
        logger.info(`joined over ${joinedOver}`, { leader: String(from) });
      }
      if (i > 0) {
        logger.info("joined through another leader", {
          leader: res.leader?.name,
          endpoint: String(from),
        });
      }
      return { ...res, joinedOver, answeredFrom: String(from), answeredBy: leader.leader.key };
    }
    if (refusal !== null) throw new JoinUnavailableError(`join refused: ${refusal}`);
    throw new Error(unanswered.join("; "));
  } finally {
    ask.privateKey.fill(0);
    await transport.close();
  }
}

/**
 * Asks one leader: the request sealed to its key, resent until it answers or `budgetMs` is
 * over. Resolves with its (sealed-to-us, opened) answer or with the error that says why not.
 */
async function askLeader(
  opts: JoinExchangeOptions,
  ask: {
    transport: Transport;
    receiver: JoinReceiver;
    hasTcp: boolean;
    tokenId: Uint8Array;
    privateKey: Uint8Array;
  },
  checkedLeader: CheckedLeader,
  req: JoinRequest,
  budgetMs: number,
  logger: Logger,
): Promise<Asked> {
  const { leader, leaderKey } = checkedLeader;
  const { transport, hasTcp } = ask;
  const suite = opts.suite;
  const { message, pending } = sealJoinRequest(
    suite.dh,
    suite.aead,
    leaderKey,
    ask.tokenId,
    checkedLeader.mac1Key,
    // With the proof that this node holds the key it names, for this request and this leader.
    (ephemeral) => {
      const proof = joinKeyProof(suite.dh, ask.privateKey, leaderKey, {
        leaderKey,
        joinerKey: parseKey(req.publicKey, "public key"),
        ephemeral,
        time: req.time,
      });
      return enc.encode(JSON.stringify(proof ? { ...req, keyProof: encodeBase64(proof) } : req));
    },
  );
  // Names are looked up now, and again each second while they fail; addresses are used as is.
  const leaderAt = new Map<string, Endpoint | null>();
  const leaderTcp = new Map<string, Endpoint>();
  const leaderWs = new Map<string, Endpoint>();
  // What was seen of each endpoint, said when it does not answer; by its TCP endpoint's text.
  const seen = new Map<string, EndpointSeen>();
  // Two endpoints of the token may be one address: both see its dials.
  const seenByTcp = new Map<string, EndpointSeen[]>();
  const seenByWs = new Map<string, EndpointSeen[]>();
  // The TCP endpoint of a leader endpoint resolved to `ep`: its address, the token's TCP port.
  const tcpOf = (text: string, ep: Endpoint): Endpoint | undefined => {
    if (!hasTcp) return undefined;
    let at = leaderTcp.get(text);
    if (!at) {
      const host = ep.family === 6 ? `[${ep.address}]` : ep.address;
      at = transport.endpoint(`tcp://${host}:${leader.tcpPort ?? ep.port}`);
      leaderTcp.set(text, at);
      const e = seen.get(text)!;
      e.tcp = String(at);
      seenByTcp.set(e.tcp, [...seenByTcp.get(e.tcp) ?? [], e]);
    }
    return at;
  };
  // The WebSocket on that TCP port: for networks that let out HTTP only.
  const wsOf = (text: string, ep: Endpoint): Endpoint | undefined => {
    if (!hasTcp) return undefined;
    let at = leaderWs.get(text);
    if (!at) {
      const host = ep.family === 6 ? `[${ep.address}]` : ep.address;
      at = transport.endpoint(`ws://${host}:${leader.tcpPort ?? ep.port}`);
      leaderWs.set(text, at);
      const e = seen.get(text)!;
      e.ws = String(at);
      seenByWs.set(e.ws, [...seenByWs.get(e.ws) ?? [], e]);
    }
    return at;
  };
  for (const e of leader.endpoints) {
    if (splitEndpoint(e)) {
      leaderAt.set(e, null);
      seen.set(e, { endpoint: e, refusals: 0, cookie: false });
    } else logger.warn("skipping token endpoint", { endpoint: e });
  }
  const resolver = new EndpointResolver({ lookup: opts.lookup });
  const looking = new Set<string>();
  const failures = new Map<string, string>();
  let retry: ReturnType<typeof setTimeout> | undefined;
  let timeout: ReturnType<typeof setTimeout> | undefined;
  let tries = 0;
  let cookies = 0;
  let over = false;
  // TCP joins in once UDP has gone unanswered for 2 s; a cookie over UDP means
  // the leader hears us there.
  let overTcp = false;
  let overWs = false;
  let heardOverUdp = false;
  // Resends so far, and when TCP joined in (ms into the join).
  let resends = 0;
  let tcpAt = Infinity;
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
          delete seen.get(text)!.lookup;
          transport.send(message, ep);
          const t = overTcp ? tcpOf(text, ep) : undefined;
          if (t) transport.send(message, t);
          const w = overWs ? wsOf(text, ep) : undefined;
          if (w) transport.send(message, w);
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
        if (!leaderAt.get(text)) seen.get(text)!.lookup = String(e.message ?? e);
      }).finally(() => looking.delete(text));
    }
  };
  const started = performance.now();
  const unanswered = () =>
    new Error(describeUnanswered([...seen.values()], tries, performance.now() - started));
  try {
    return await new Promise<Asked>((resolve) => {
      ask.receiver.dialed = (to, outcome, proxy, upgrade) => {
        // A WebSocket's dial is said beside its TCP one, and ends nothing early.
        for (const e of over ? [] : seenByWs.get(String(to)) ?? []) {
          e.wsDial = outcome;
          const why = proxy?.message ?? (upgrade === undefined ? undefined : (
            `the server did not upgrade (${upgrade.replace(/^websocket: /, "")}): no weft ` +
            "serves a WebSocket there (check the token's TCP port)"
          ));
          if (why !== undefined) e.wsWhy = why;
          else delete e.wsWhy;
        }
        const those = seenByTcp.get(String(to));
        if (over || !those) return;
        const refused = outcome === "refused" || proxy?.refused === true;
        for (const e of those) {
          e.dial = outcome;
          e.refusals = refused ? e.refusals + 1 : 0;
          if (proxy) e.proxy = proxy.message;
          else delete e.proxy;
        }
        // Every endpoint refused again and again: nothing listens there, and waiting is no use.
        const all = [...seen.values()];
        if (
          refused && [...leaderAt.values()].every((at) => at !== null) &&
          all.every((s) => !s.cookie && s.refusals >= REFUSALS_TO_GIVE_UP)
        ) {
          over = true;
          resolve({ error: unanswered() });
        }
      };
      ask.receiver.on = (data, from) => {
        if (over || data.length < 8) return;
        const type = readU32(data, 0);
        if (type === MSG_JOIN_COOKIE) {
          // The leader is under load: the same request again, with mac2 from its cookie.
          const cookie = openJoinCookie(leaderKey, message, data);
          if (!cookie) return;
          setJoinMac2(message, cookie);
          cookies++;
          if (!isStreamEndpoint(from)) heardOverUdp = true;
          for (const e of seen.values()) {
            if (leaderAt.get(e.endpoint) === from || e.tcp === String(from)) e.cookie = true;
          }
          transport.send(message, from);
          transport.flush();
          // The leader hears us, and the request it can take went now: the next resend waits
          // its whole wait from now (sooner, a copy would come while the request is handled).
          if (retry !== undefined) {
            clearTimeout(retry);
            resends--;
            again();
          }
          return;
        }
        if (type !== MSG_JOIN_RESPONSE) return;
        const plain = openJoinResponse(suite.dh, suite.aead, pending, data);
        if (plain) {
          over = true;
          resolve({ answer: plain.slice(), from, tries, cookies });
        }
      };
      // Datagrams get lost: resent until answered or out of time.
      const send = () => {
        lookUp();
        let sent = false;
        for (const [text, t] of leaderAt) {
          if (!t) continue;
          transport.send(message, t);
          const overT = overTcp ? tcpOf(text, t) : undefined;
          if (overT) transport.send(message, overT);
          const overW = overWs ? wsOf(text, t) : undefined;
          if (overW) transport.send(message, overW);
          sent = true;
        }
        transport.flush();
        if (sent) tries++;
      };
      send();
      // Soon at first (under a flood the leader's socket drops datagrams, ours among them), then
      // less and less often (./resend.ts): a leader behind its queue reads every copy. TCP, and
      // then a WebSocket, join in on their own clock, each with a resend at once.
      const again = () => {
        const elapsed = performance.now() - started;
        const wait = joinResendDelayMs(++resends);
        const tcpDue = hasTcp && !heardOverUdp && !overTcp;
        const wsDue = overTcp && !overWs;
        const escalateAt = tcpDue ? TCP_AFTER_MS : wsDue ? tcpAt + WS_AFTER_TCP_MS : Infinity;
        const escalate = escalateAt - elapsed <= wait;
        retry = setTimeout(() => {
          // Checked again: a cookie over UDP (heard there) may have come meanwhile.
          if (escalate && hasTcp && !heardOverUdp && !overTcp) {
            overTcp = true;
            tcpAt = performance.now() - started;
            logger.debug("no answer over udp; trying tcp too", {
              endpoints: leaderTcpEndpoints(leader).join(","),
            });
          } else if (escalate && overTcp && !overWs) {
            overWs = true;
            logger.debug("no answer over tcp; trying a websocket too", {
              endpoints: leaderTcpEndpoints(leader).map((e) => e.replace("tcp:", "ws:")).join(","),
            });
          }
          send();
          again();
        }, escalate ? Math.max(0, escalateAt - elapsed) : wait);
      };
      again();
      timeout = setTimeout(() => {
        over = true;
        const where = leader.endpoints.join(", ");
        const why = failures.size ? [...failures.values()].join("; ") : "the lookup did not finish";
        resolve({
          error: tries === 0
            ? new Error(`could not resolve the leader's endpoint ${where}: ${why}`)
            : unanswered(),
        });
      }, budgetMs);
    });
  } finally {
    over = true;
    ask.receiver.on = null;
    ask.receiver.dialed = null;
    clearTimeout(retry);
    clearTimeout(timeout);
  }
}
