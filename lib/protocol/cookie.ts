/**
 * MAC1/MAC2 and cookie replies: WireGuard's DoS mitigation (the paper's section 5.4.7). MAC1
 * proves the sender knows our public key; under load, MAC2 proves it can receive at its source
 * address, via a cookie we sent it.
 * @module
 */

import { hash, mac } from "../crypto/blake2s.ts";
import { xchachaOpen, xchachaSeal } from "../crypto/xchacha.ts";
import { equalBytes } from "../crypto/keys.ts";
import { COOKIE_REPLY_SIZE, LABEL_COOKIE, LABEL_MAC1, MSG_COOKIE_REPLY } from "./constants.ts";
import { writeU32 } from "./bytes.ts";
import { CookieReply } from "./messages.ts";

const enc = new TextEncoder();
const MAC_SIZE = 16;

/** The MAC1 offset of a handshake message: the last 32 bytes hold MAC1 then MAC2. */
function mac1Offset(msg: Uint8Array): number {
  return msg.length - 2 * MAC_SIZE;
}

/** Turns an underlay source into the bytes a cookie is bound to. */
export function sourceBytes(address: string, port: number): Uint8Array {
  return enc.encode(`${address}|${port}`);
}

/** The responder side: checks MACs on handshakes we receive and makes cookie replies. */
export class CookieChecker {
  readonly #mac1Key: Uint8Array;
  readonly #cookieKey: Uint8Array;
  #secret = new Uint8Array(32);
  #secretSetAt = -Infinity;

  constructor(
    localPublicKey: Uint8Array,
    private readonly refreshMs: number,
    /** Fills cookie secrets and reply nonces; tests inject fixed bytes. */
    private readonly random: (bytes: Uint8Array) => void = fillRandom,
  ) {
    this.#mac1Key = hash(enc.encode(LABEL_MAC1), localPublicKey);
    this.#cookieKey = hash(enc.encode(LABEL_COOKIE), localPublicKey);
  }

  /** True when MAC1 of a handshake message is right. */
  checkMac1(msg: Uint8Array): boolean {
    const off = mac1Offset(msg);
    if (off < 4) return false;
    const want = mac(this.#mac1Key, msg.subarray(0, off));
    return equalBytes(want, msg.subarray(off, off + MAC_SIZE));
  }

  /**
   * True when MAC2 is right for the cookie of the current secret for `source`. Once the secret
   * is older than the refresh time no MAC2 is right: the next cookie reply makes a new secret,
   * so a cookie stops working at most one refresh time after its secret was made.
   */
  checkMac2(msg: Uint8Array, source: Uint8Array, nowMs: number): boolean {
    const off = mac1Offset(msg) + MAC_SIZE;
    if (off < 4 + MAC_SIZE || nowMs - this.#secretSetAt >= this.refreshMs) return false;
    // An initiator without a cookie sends zeros: no MAC to compute for that.
    if (mac2IsZero(msg)) return false;
    const want = mac(mac(this.#secret, source), msg.subarray(0, off));
    return equalBytes(want, msg.subarray(off, off + MAC_SIZE));
  }

  /** Writes a cookie reply (64 bytes) to handshake `msg` that arrived from `source`. */
  createReply(
    msg: Uint8Array,
    receiverIndex: number,
    source: Uint8Array,
    nowMs: number,
    out: Uint8Array,
  ): void {
    const off = mac1Offset(msg);
    const mac1 = msg.subarray(off, off + MAC_SIZE);
    out.fill(0, 0, COOKIE_REPLY_SIZE);
    writeU32(out, 0, MSG_COOKIE_REPLY);
    writeU32(out, CookieReply.receiver, receiverIndex);
    const nonce = out.subarray(CookieReply.nonce, CookieReply.nonce + CookieReply.nonceSize);
    this.random(nonce);
    const sealed = xchachaSeal(this.#cookieKey, nonce, this.#cookie(source, nowMs), mac1);
    out.set(sealed, CookieReply.cookie);
  }

  // The secret rotates here only, as in wireguard-go: lazily, when a reply needs it.
  #cookie(source: Uint8Array, nowMs: number): Uint8Array {
    if (nowMs - this.#secretSetAt >= this.refreshMs) {
      this.random(this.#secret);
      this.#secretSetAt = nowMs;
    }
    return mac(this.#secret, source);
  }
}

/** Fills `bytes` from the platform CSPRNG. */
export function fillRandom(bytes: Uint8Array): void {
  crypto.getRandomValues(bytes);
}

/** True when a handshake message's MAC2 (its last 16 bytes) is all zeros: sent without a cookie. */
export function mac2IsZero(msg: Uint8Array): boolean {
  for (let i = msg.length - MAC_SIZE; i < msg.length; i++) if (msg[i] !== 0) return false;
  return true;
}

/** The initiator side, one per peer: adds MACs to what we send and takes cookie replies. */
export class CookieGenerator {
  #mac1Key: Uint8Array | null = null;
  #cookie: Uint8Array | null = null;
  #cookieAt = -Infinity;
  #lastMac1: Uint8Array | null = null;

  constructor(private readonly peerPublicKey: Uint8Array, private readonly refreshMs: number) {}

  // Derived on first use: most peers of a large mesh never need them.
  get #mac1(): Uint8Array {
    this.#mac1Key ??= hash(enc.encode(LABEL_MAC1), this.peerPublicKey);
    return this.#mac1Key;
  }

  /** Fills MAC1, and MAC2 while we hold a fresh cookie, into the last 32 bytes of `msg`. */
  addMacs(msg: Uint8Array, nowMs: number): void {
    const off = mac1Offset(msg);
    const mac1 = mac(this.#mac1, msg.subarray(0, off));
    msg.set(mac1, off);
    this.#lastMac1 = mac1;
    const mac2 = msg.subarray(off + MAC_SIZE, off + 2 * MAC_SIZE);
    if (this.#cookie && nowMs - this.#cookieAt < this.refreshMs) {
      mac2.set(mac(this.#cookie, msg.subarray(0, off + MAC_SIZE)));
    } else {
      mac2.fill(0);
    }
  }

  /** Takes a cookie reply to the last message we sent; false when it does not decrypt. */
  consumeReply(reply: Uint8Array, nowMs: number): boolean {
    if (reply.length !== COOKIE_REPLY_SIZE || !this.#lastMac1) return false;
    const nonce = reply.subarray(CookieReply.nonce, CookieReply.nonce + CookieReply.nonceSize);
    const sealed = reply.subarray(
      CookieReply.cookie,
      CookieReply.cookie + CookieReply.cookieSize,
    );
    const cookieKey = hash(enc.encode(LABEL_COOKIE), this.peerPublicKey);
    const cookie = xchachaOpen(cookieKey, nonce, sealed, this.#lastMac1);
    if (!cookie) return false;
    this.#cookie = cookie;
    this.#cookieAt = nowMs;
    return true;
  }
}
