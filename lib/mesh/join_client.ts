/**
 * The joiner's side of the join exchange (`weft join v2`): a token checked entirely before
 * anything is created, then a request sealed to the leader's static key, resent until answered
 * (fast at first, as a flooded leader drops datagrams), with mac2 from the leader's cookie when it
 * is under load. The leader's endpoints may be names, looked up again while they fail.
 * @module
 */

import type { UnderlayKind } from "../agent/agent.ts";
import type { AgentConfig } from "../config/agent_config.ts";
import type { Dh } from "../crypto/types.ts";
import { selectSuite } from "../crypto/select.ts";
import { encodeKey, parseKey, publicKeyOf } from "../crypto/keys.ts";
import { decodeBase64 } from "../crypto/base64.ts";
import type { Endpoint, Transport } from "../io/driver.ts";
import type { Logger } from "../log/logger.ts";
import type { Member } from "../members/member.ts";
import { Cidr } from "../net/cidr.ts";
import { EndpointResolver, isIpEndpoint, splitEndpoint } from "../net/resolve.ts";
import { readU32 } from "../protocol/bytes.ts";
import { DenoUdpTransport } from "../../drivers/udp_deno.ts";
import { LinuxUdpTransport } from "../../drivers/linux/udp.ts";
import type { JoinRequest } from "./leader.ts";
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
} from "./join_crypto.ts";
import {
  DEFAULT_LISTEN_PORT,
  type MeshIdentityOptions,
  type MeshUnderlayOptions,
  underlayKind,
} from "./options.ts";

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
// Join requests resent every 250 ms before resends slow to one a second.
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
}

/**
 * Runs the join exchange from the listen port; resolves with the leader's answer. A refusal is a
 * {@link JoinError}; no answer in time is an Error naming the leader's endpoints.
 */
export async function requestJoin(
  opts: JoinClientOptions & MeshIdentityOptions & MeshUnderlayOptions,
  checked: CheckedToken,
  privateKey: string,
  logger: Logger,
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
    labels: opts.labels ?? {},
    services: opts.services ?? [],
    endpoints: opts.advertise ?? [],
    // Made once: every resend is the same request, which the leader answers the same way.
    time: Date.now(),
  };
  const port = opts.listenPort ?? DEFAULT_LISTEN_PORT;
  const transport = opts.openTransport
    ? await opts.openTransport(port)
    : await openTransport(underlayKind(opts), port);
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
