/**
 * Join tokens. A token carries what a joiner needs to reach and authenticate the leaders (each
 * one's public key, advertised endpoints and TCP port; the leader that made it first), the
 * network, and a secret. The leader keeps only a hash of
 * the secret, with the token's expiry, use count and labels.
 * @module
 */

import { hash } from "../../crypto/blake2s.ts";
import { equalBytes } from "../../crypto/bytes.ts";
import { decodeBase64, encodeBase64 } from "../../crypto/base64.ts";

const PREFIX = "weft1_";
const enc = new TextEncoder();

/** A leader as a token names it. */
export interface TokenLeader {
  /** Its base64 public key. */
  key: string;
  /** Its endpoints (`host:port`). */
  endpoints: string[];
  /** Its TCP port, when it is not its endpoints' port number. */
  tcpPort?: number;
}

/** What a token string carries. */
export interface TokenPayload {
  /** The first leader's base64 public key (the one that made the token). */
  leaderKey: string;
  /** The first leader's endpoints (`host:port`). */
  endpoints: string[];
  /** The overlay network (CIDR). */
  network: string;
  /** Token id. */
  id: string;
  /** The secret (base64). */
  secret: string;
  /**
   * The leader's TCP port, when it is not its UDP port's number; absent: joiners falling back to
   * TCP use each endpoint's port. Tokens from before TCP have none.
   */
  tcpPort?: number;
  /**
   * Every leader a joiner may ask, the first one being the fields above; tokens from before
   * several leaders name that one alone. When encoding, the fields above come first, and a list
   * that does not hold their key had its first leader replaced by them. Absent when encoding:
   * the first leader alone.
   */
  leaders?: TokenLeader[];
}

/** A decoded token: its leaders always listed. */
export type DecodedToken = TokenPayload & { leaders: TokenLeader[] };

// The most leaders a token names (a bound on what a joiner tries).
const MAX_LEADERS = 16;

/** A token as the leader stores it: the secret only as a hash. */
export interface StoredToken {
  /** Token id (hex). */
  id: string;
  /** BLAKE2s of the secret, base64. */
  secretHash: string;
  /** Unix ms of creation. */
  createdAt: number;
  /** Unix ms after which it is refused. */
  expiresAt: number;
  /** Joins left (null: unlimited). */
  usesLeft: number | null;
  /** Labels given to nodes that join with it. */
  labels: Record<string, string>;
  /** Service names nodes that join with it may offer (absent: none). */
  services?: string[];
  /** Nodes that join with it may relay for others (absent: no). */
  relay?: true;
  /**
   * Routes its nodes may carry without a `weft route approve` (prefixes, each covering the
   * advertised routes inside it, and `exit`), as Tailscale's auto-approvers; absent: none.
   */
  approveRoutes?: string[];
  /**
   * The name its node gets (`weft token create --hostname`), whatever the joiner asks for;
   * absent: the joiner's own, as the leader's naming rules allow (lib/mesh/leader/names.ts).
   */
  hostname?: string;
  /** True once revoked. */
  revoked: boolean;
}

/** A token as the leader lists it: no secret's hash, and whether it has expired. */
export type TokenView = Omit<StoredToken, "secretHash"> & {
  /** Past its expiry at the leader's clock when listed: refused as `token expired`. */
  expired: boolean;
};

function toBase64Url(b64: string): string {
  return b64.replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromBase64Url(text: string): string {
  const b = text.replaceAll("-", "+").replaceAll("_", "/");
  return b + "=".repeat((4 - (b.length % 4)) % 4);
}

/** Encodes a token for the command line. */
export function encodeToken(p: TokenPayload): string {
  // The first leader in the fields older joiners read; the others after it, which they ignore.
  // A list without the first leader's key had its first leader replaced by the fields above (a
  // payload decoded and given another leader key): the rest follow it.
  const list = p.leaders ?? [];
  const others =
    (list.some((l) => l.key === p.leaderKey)
      ? list.filter((l) => l.key !== p.leaderKey)
      : list.slice(1)).slice(0, MAX_LEADERS - 1);
  const json = JSON.stringify({
    v: 1,
    k: p.leaderKey,
    e: p.endpoints,
    n: p.network,
    i: p.id,
    s: p.secret,
    ...(p.tcpPort !== undefined ? { t: p.tcpPort } : {}),
    ...(others.length
      ? {
        l: others.map((l) => ({
          k: l.key,
          e: l.endpoints,
          ...(l.tcpPort !== undefined ? { t: l.tcpPort } : {}),
        })),
      }
      : {}),
  });
  return PREFIX + toBase64Url(encodeBase64(enc.encode(json)));
}

function validPort(p: unknown): boolean {
  return p === undefined || (Number.isInteger(p) && (p as number) >= 1 && (p as number) <= 65535);
}

/** The other leaders of a token's `l` field, checked; absent: none. */
function otherLeaders(l: unknown): TokenLeader[] {
  if (l === undefined) return [];
  const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === "string");
  if (!Array.isArray(l) || l.length >= MAX_LEADERS) {
    throw new Error("malformed join token: bad leader list");
  }
  return l.map((x) => {
    if (
      typeof x !== "object" || x === null || typeof x.k !== "string" || !strings(x.e) ||
      x.e.length === 0 || !validPort(x.t)
    ) throw new Error("malformed join token: bad leader list");
    return { key: x.k, endpoints: x.e, ...(x.t !== undefined ? { tcpPort: x.t } : {}) };
  });
}

/** Decodes a token; throws an Error that says what is wrong (never echoing the secret). */
export function decodeToken(text: string): DecodedToken {
  const t = text.trim();
  if (!t.startsWith(PREFIX)) {
    throw new Error(`not a weft join token (it should start with "${PREFIX}")`);
  }
  const bytes = decodeBase64(fromBase64Url(t.slice(PREFIX.length)));
  if (!bytes) throw new Error("malformed join token: not base64url");
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new Error("malformed join token: bad content");
  }
  const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === "string");
  if (
    o?.v !== 1 || typeof o.k !== "string" || !strings(o.e) || typeof o.n !== "string" ||
    typeof o.i !== "string" || typeof o.s !== "string" || (o.e as string[]).length === 0
  ) {
    throw new Error("malformed join token: missing or wrong fields");
  }
  const tcp = o.t;
  if (!validPort(tcp)) throw new Error("malformed join token: bad TCP port");
  const first: TokenLeader = {
    key: o.k,
    endpoints: o.e as string[],
    ...(tcp !== undefined ? { tcpPort: tcp as number } : {}),
  };
  return {
    leaderKey: o.k,
    endpoints: o.e as string[],
    network: o.n,
    id: o.i,
    secret: o.s,
    ...(tcp !== undefined ? { tcpPort: tcp as number } : {}),
    leaders: [first, ...otherLeaders(o.l).filter((l) => l.key !== first.key)],
  };
}

/** The stored form of a secret. */
export function hashSecret(secretB64: string): string {
  return encodeBase64(hash(enc.encode("weft token v1"), enc.encode(secretB64)));
}

/** Constant-time check of a presented secret against a stored token. */
export function secretMatches(stored: StoredToken, secretB64: string): boolean {
  const want = decodeBase64(stored.secretHash);
  const got = decodeBase64(hashSecret(secretB64));
  return want !== null && got !== null && equalBytes(want, got);
}

/** Why a stored token cannot be used now, or null when it can. */
export function tokenProblem(t: StoredToken | undefined, now: number): string | null {
  if (!t) return "unknown token";
  if (t.revoked) return "token revoked";
  if (now >= t.expiresAt) return "token expired";
  if (t.usesLeft !== null && t.usesLeft <= 0) return "token used up";
  return null;
}

/** Makes a fresh token id and secret. */
export function newTokenSecret(): { id: string; secret: string } {
  const id = crypto.getRandomValues(new Uint8Array(6));
  const secret = crypto.getRandomValues(new Uint8Array(32));
  return {
    id: [...id].map((b) => b.toString(16).padStart(2, "0")).join(""),
    secret: encodeBase64(secret),
  };
}
