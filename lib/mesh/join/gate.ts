/**
 * The leader's admission check for join requests, run before any DH: a request must name a
 * token the leader knows and carry that token's mac1 (so junk and requests without a token cost
 * a table lookup); while many requests arrive, it must also carry mac2 keyed by a cookie sent to
 * its source address (so spoofed sources cannot spend DHs); and each source may send only a few
 * requests a second (an IPv6 source by its /64). Everything refused is counted by reason, never logged per datagram.
 * @module
 */

import { decodeBase64 } from "../../crypto/base64.ts";
import { CookieChecker, sourceBytes } from "../../protocol/cookie.ts";
import { COOKIE_REPLY_SIZE } from "../../protocol/constants.ts";
import { readU32, writeU32 } from "../../protocol/bytes.ts";
import { RateLimiter } from "../../protocol/ratelimiter.ts";
import { ReasonCounter } from "../../metrics/reasons.ts";
import { sourceKey } from "../../net/source_key.ts";
import type { Endpoint } from "../../io/driver.ts";
import {
  checkJoinMac1,
  isJoinRequestShape,
  joinMac1Key,
  MSG_JOIN_COOKIE,
  requestTokenId,
  tokenIdNumber,
} from "./crypto.ts";

/** Why a join datagram was dropped. */
export const JOIN_DROP_REASONS = [
  "short",
  "unknown-token",
  "mac1",
  "cookie-required",
  "rate-limited",
  "busy",
  "resent",
  "decrypt",
  "malformed",
  "stale",
  "future",
  "not-key-holder",
  "late",
] as const;

/** A reason a join datagram was dropped. */
export type JoinDropReason = typeof JOIN_DROP_REASONS[number];

/** Options of a {@link JoinGate}. */
export interface JoinGateOptions {
  /** Requests a second (naming a known token) above which mac2 is demanded. Default 10. */
  underLoadPerSecond?: number;
  /** Requests a second each source may have opened. Default 20 (burst 5). */
  perSourcePerSecond?: number;
  /** Cookie replies a second each source may get. Default 20 (burst 5). */
  cookiesPerSourcePerSecond?: number;
  /** Monotonic milliseconds. Default `performance.now`. */
  now?: () => number;
}

/** What the gate decided about a datagram. */
export type JoinVerdict = "open" | "cookie" | "drop";

// A cookie is good for two minutes, as WireGuard's; the load state lasts a second after it ends.
const COOKIE_REFRESH_MS = 120_000;
const UNDER_LOAD_HOLD_MS = 1000;

function mac2IsZero(msg: Uint8Array): boolean {
  for (let i = msg.length - 16; i < msg.length; i++) if (msg[i] !== 0) return false;
  return true;
}

/** Admission control for join requests. See the module docs. */
export class JoinGate {
  readonly #leaderKey: Uint8Array;
  readonly #cookies: CookieChecker;
  readonly #perSource: RateLimiter;
  readonly #cookieLimiter: RateLimiter;
  readonly #now: () => number;
  readonly #loadThreshold: number;
  // mac1 keys by numeric token id; rebuilt when the token list changes.
  #keys = new Map<number, Uint8Array>();
  #windowStart = -Infinity;
  #windowCount = 0;
  #underLoadUntil = -Infinity;
  readonly #drops = new ReasonCounter(JOIN_DROP_REASONS);
  /** The last cookie reply made (valid until the next call of {@link check}). */
  readonly reply: Uint8Array = new Uint8Array(COOKIE_REPLY_SIZE);

  constructor(leaderKey: Uint8Array, opts: JoinGateOptions = {}) {
    this.#leaderKey = leaderKey;
    this.#cookies = new CookieChecker(leaderKey, COOKIE_REFRESH_MS);
    this.#now = opts.now ?? (() => performance.now());
    this.#loadThreshold = opts.underLoadPerSecond ?? 10;
    this.#perSource = new RateLimiter({
      perSecond: opts.perSourcePerSecond ?? 20,
      burst: 5,
      now: this.#now,
    });
    this.#cookieLimiter = new RateLimiter({
      perSecond: opts.cookiesPerSourcePerSecond ?? 20,
      burst: 5,
      now: this.#now,
    });
  }

  /** Sets the tokens whose requests are admitted (id and stored secret hash). */
  setTokens(tokens: readonly { id: string; secretHash: string }[]): void {
    const keys = new Map<number, Uint8Array>();
    for (const t of tokens) {
      const id = tokenIdNumber(t.id);
      const secretHash = decodeBase64(t.secretHash);
      if (id !== null && secretHash) keys.set(id, joinMac1Key(this.#leaderKey, secretHash));
    }
    this.#keys = keys;
  }

  /** Counts a drop decided after the gate (decrypt, malformed, stale, busy). */
  drop(reason: JoinDropReason): void {
    this.#drops.add(reason);
  }

  /** A copy of the drop counters. */
  drops(): Record<JoinDropReason, number> {
    return this.#drops.snapshot();
  }

  /** True while mac2 is demanded. */
  get underLoad(): boolean {
    return this.#now() < this.#underLoadUntil;
  }

  /**
   * Decides about a join request from `from`: `open` (worth a DH), `cookie` (send
   * {@link reply} back to `from`; the request is dropped) or `drop`. Counts every refusal.
   */
  check(msg: Uint8Array, from: Endpoint): JoinVerdict {
    if (!isJoinRequestShape(msg)) return this.#refuse("short");
    const key = this.#keys.get(requestTokenId(msg));
    if (!key) return this.#refuse("unknown-token");
    const now = this.#now();
    if (now - this.#windowStart >= 1000) {
      this.#windowStart = now;
      this.#windowCount = 0;
    }
    if (++this.#windowCount > this.#loadThreshold) this.#underLoadUntil = now + UNDER_LOAD_HOLD_MS;
    const loaded = now < this.#underLoadUntil;
    // Under load, a request without a cookie can only earn a cookie reply, a few a second per
    // source: past those, a flood of them (replays of one captured request) costs no MAC.
    const noCookie = loaded && mac2IsZero(msg);
    const limitKey = sourceKey(from.address);
    if (noCookie && !this.#cookieLimiter.allow(limitKey)) {
      return this.#refuse("cookie-required");
    }
    if (!checkJoinMac1(msg, key)) return this.#refuse("mac1");
    if (loaded) {
      const source = sourceBytes(from.address, from.port);
      if (noCookie || !this.#cookies.checkMac2(msg, source, now)) {
        // The request is dropped either way; the cookie lets a real sender retry at once.
        this.#drops.add("cookie-required");
        if (!noCookie && !this.#cookieLimiter.allow(limitKey)) return "drop";
        // WireGuard's cookie reply, with the join's own type and the request id as receiver.
        this.#cookies.createReply(msg, readU32(msg, 4), source, now, this.reply);
        writeU32(this.reply, 0, MSG_JOIN_COOKIE);
        return "cookie";
      }
    }
    if (!this.#perSource.allow(limitKey)) return this.#refuse("rate-limited");
    return "open";
  }

  #refuse(reason: JoinDropReason): JoinVerdict {
    this.#drops.add(reason);
    return "drop";
  }
}
