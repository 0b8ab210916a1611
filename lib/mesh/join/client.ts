/**
 * The joiner's side of the join exchange (`weft join v2`): a token checked entirely before
 * anything is created, then a request sealed to the leader's static key, resent until answered
 * (fast at first, as a flooded leader drops datagrams), with mac2 from the leader's cookie when it
 * is under load. The leader's endpoints may be names, looked up again while they fail.
 *
 * Where UDP does not get through (a network that lets only TCP out), the request goes over TCP
 * too once the fast resends (2 s) have gone unanswered: framed on a connection to each of the
 * leader's endpoints (`tcp://host:port`, the port the token's `tcpPort` or else the endpoint's),
 * dialled from an ephemeral port so the node's own TCP port stays free for its agent. The leader
 * answers on that connection; the answer says which way it came (`joinedOver`).
 * @module
 */

import type { UnderlayKind } from "../../agent/agent.ts";
import type { AgentConfig } from "../../config/agent_config.ts";
import type { Dh } from "../../crypto/types.ts";
import { selectSuite } from "../../crypto/select.ts";
import { encodeKey, parseKey, publicKeyOf } from "../../crypto/keys.ts";
import { decodeBase64 } from "../../crypto/base64.ts";
import type { Endpoint, Transport } from "../../io/driver.ts";
import type { Logger } from "../../log/logger.ts";
import type { Member } from "../../members/member.ts";
import { Cidr } from "../../net/cidr.ts";
import { EndpointResolver, isIpEndpoint, splitEndpoint } from "../../net/resolve.ts";
import { readU32 } from "../../protocol/bytes.ts";
import { DenoUdpTransport } from "../../../drivers/udp_deno.ts";
import { LinuxUdpTransport } from "../../../drivers/linux/udp.ts";
import { DualTransport } from "../../../drivers/dual.ts";
import { TcpTransport } from "../../../drivers/tcp.ts";
import { formatHostPort } from "../../net/hostport.ts";
import type { JoinRequest } from "./request.ts";
import { decodeToken, hashSecret, type TokenPayload } from "./token.ts";
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
import {
  DEFAULT_LISTEN_PORT,
  knownTcpPort,
  type MeshIdentityOptions,
  meshTcpPort,
  type MeshUnderlayOptions,
  underlayKind,
} from "../options/options.ts";

/** The join section of a mesh agent's options. */
export interface JoinClientOptions {
  /** The join token (a fresh node only). */
  token?: string;
  /** How long a join may take before giving up, ms. Default 15000. */
  joinTimeoutMs?: number;
}

/** The join section of a parsed configuration. */
export function joinFromConfig(config: AgentConfig): JoinClientOptions {
  return { token: config.join };
}

/** A join the leader refused, or a token that cannot be used: bad input, exit code 2. */
export class JoinError extends Error {}

const enc = new TextEncoder();
const dec = new TextDecoder();
// Join requests resent every 250 ms before resends slow to one a second; from then on (2 s
// without an answer) they go over TCP as well.
const FAST_RESENDS = 8;

async function openTransport(kind: UnderlayKind, port: number): Promise<Transport> {
  return kind === "linux"
    ? await LinuxUdpTransport.open({ port })
    : await DenoUdpTransport.open({ port });
}

/** A join token checked for use: its fields, and what the request is built from. */
export interface CheckedToken {
  /** The token's fields. */
  token: TokenPayload;
  /** The leader's static public key. */
  leaderKey: Uint8Array;
  /** The token id's six bytes, sent in clear in the request. */
  tokenId: Uint8Array;
  /** The key of the request's mac1. */
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
  joinedOver: "udp" | "tcp";
  /** The leader's endpoint that answered (`tcp://host:port` over TCP). */
  answeredFrom: string;
}

/** The leader's TCP endpoints for its token endpoints, as the join dials them (text). */
export function leaderTcpEndpoints(token: TokenPayload): string[] {
  const out: string[] = [];
  for (const e of token.endpoints) {
    const hp = splitEndpoint(e);
    if (hp) out.push(`tcp://${formatHostPort({ host: hp.host, port: token.tcpPort ?? hp.port })}`);
  }
  return out;
}

/**
 * Runs the join exchange from the listen port (and over TCP when UDP goes unanswered, unless
 * this node's TCP is off); resolves with the leader's answer. A refusal is a {@link JoinError};
 * no answer in time is an Error naming the leader's endpoints, UDP and TCP. `previousName`: the
 * name this node had (a removed node joining again), asked for instead of its hostname.
 */
export async function requestJoin(
  opts: JoinClientOptions & MeshIdentityOptions & MeshUnderlayOptions,
  checked: CheckedToken,
  privateKey: string,
  logger: Logger,
  previousName?: string,
): Promise<JoinAnswer> {
  const { token, leaderKey } = checked;
  const suite = selectSuite(opts.crypto);
  const req: JoinRequest = {
    tokenId: token.id,
    secret: token.secret,
    publicKey: encodeKey(
      publicKeyOf(parseKey(privateKey, "private key")),
    ),
    hostname: opts.hostname,
    ...(previousName !== undefined ? { previousName } : {}),
    labels: opts.labels ?? {},
    services: opts.services ?? [],
    endpoints: opts.advertise ?? [],
    // Made once: every resend is the same request, which the leader answers the same way.
    time: Date.now(),
    ...(opts.relay ? { relay: true as const } : {}),
  };
  const ownTcp = knownTcpPort(opts);
  if (ownTcp !== null) req.tcpPort = ownTcp;
  const port = opts.listenPort ?? DEFAULT_LISTEN_PORT;
  const udp = opts.openTransport
    ? await opts.openTransport(port)
    : await openTransport(underlayKind(opts), port);
  // Only dials: the node's own TCP port must be free for its agent once the join is over.
  const tcp = meshTcpPort(opts) === 0 ? null : await TcpTransport.open({
    port: 0,
    listen: false,
    // Below the resend interval: a dial that failed is tried again at the next resend.
    redialDelayMs: 500,
    onError: (e) => logger.debug("join over tcp", { error: String(e) }),
  }).catch(async (e) => {
    await udp.close();
    throw e;
  });
  const transport: Transport = tcp ? new DualTransport(udp, tcp) : udp;
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
    const leaderTcp = new Map<string, Endpoint>();
    // The TCP endpoint of a leader endpoint resolved to `ep`: its address, the token's TCP port.
    const tcpOf = (text: string, ep: Endpoint): Endpoint | undefined => {
      if (!tcp) return undefined;
      let at = leaderTcp.get(text);
      if (!at) {
        const host = ep.family === 6 ? `[${ep.address}]` : ep.address;
        at = transport.endpoint(`tcp://${host}:${token.tcpPort ?? ep.port}`);
        leaderTcp.set(text, at);
      }
      return at;
    };
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
            const t = overTcp ? tcpOf(text, ep) : undefined;
            if (t) transport.send(message, t);
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
    // TCP joins in once UDP has gone unanswered for the fast resends; a cookie over UDP means
    // the leader hears us there.
    let overTcp = false;
    let heardOverUdp = false;
    let answeredFrom: Endpoint | null = null;
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
            if (from.proto !== "tcp") heardOverUdp = true;
            transport.send(message, from);
            transport.flush();
            return;
          }
          if (type !== MSG_JOIN_RESPONSE) return;
          const plain = openJoinResponse(suite.dh, suite.aead, pending, data);
          if (plain && !answeredFrom) {
            answeredFrom = from;
            resolve(plain.slice());
          }
        },
        flush: () => {},
      });
      // Datagrams get lost: resend every second until answered or out of time.
      const send = () => {
        lookUp();
        let sent = false;
        for (const [text, t] of leaderAt) {
          if (!t) continue;
          transport.send(message, t);
          const overT = overTcp ? tcpOf(text, t) : undefined;
          if (overT) transport.send(message, overT);
          sent = true;
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
          if (resends >= FAST_RESENDS && tcp && !heardOverUdp && !overTcp) {
            overTcp = true;
            logger.debug("no answer over udp; trying tcp too", {
              endpoints: leaderTcpEndpoints(token).join(","),
            });
          }
          send();
          again();
        }, ++resends <= FAST_RESENDS ? 250 : 1000);
      };
      again();
      const timeoutMs = opts.joinTimeoutMs ?? 15_000;
      timeout = setTimeout(() => {
        const where = token.endpoints.join(", ");
        const why = failures.size ? [...failures.values()].join("; ") : "the lookup did not finish";
        const alsoTcp = overTcp ? ` (udp) or ${leaderTcpEndpoints(token).join(", ")}` : "";
        reject(
          tries === 0
            ? new Error(`could not resolve the leader's endpoint ${where}: ${why}`)
            : new Error(
              `no answer from the leader at ${where}${alsoTcp} after ${tries} tries in ` +
                `${timeoutMs / 1000} s (a leader that does not know the token's secret ` +
                "does not answer)",
            ),
        );
      }, timeoutMs);
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
    const from = answeredFrom as Endpoint | null;
    const joinedOver = from?.proto === "tcp" ? "tcp" : "udp";
    logger.debug("join answered", {
      ms: Math.round(performance.now() - started),
      tries,
      cookies,
    });
    if (joinedOver === "tcp") logger.info("joined over tcp", { leader: String(from) });
    return { ...res, joinedOver, answeredFrom: String(from) };
  } finally {
    await transport.close();
  }
}
