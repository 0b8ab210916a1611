/**
 * The Noise_IKpsk2 handshake as WireGuard uses it (the paper's section 5.4). Pure functions over a
 * per-peer `Handshake` record; the device owns indices, timers and sending.
 * @module
 */

import type { Aead, Dh } from "../crypto/types.ts";
import { hash, kdf1, kdf2, kdf3 } from "../crypto/blake2s.ts";
import {
  CONSTRUCTION,
  IDENTIFIER,
  INITIATION_SIZE,
  MSG_INITIATION,
  MSG_RESPONSE,
} from "./constants.ts";
import { RESPONSE_SIZE } from "./constants.ts";
import { readU32, wipe, writeU32 } from "./bytes.ts";
import { Initiation, Response } from "./messages.ts";
import { TAI64N_SIZE, tai64nAfter, writeTai64n } from "./tai64n.ts";

const enc = new TextEncoder();
const INITIAL_CHAIN_KEY: Uint8Array = hash(enc.encode(CONSTRUCTION));
const INITIAL_HASH: Uint8Array = hash(INITIAL_CHAIN_KEY, enc.encode(IDENTIFIER));
const EMPTY = new Uint8Array(0);
const ZERO_KEY = new Uint8Array(32);

/** Where our own initiation to a peer stands. */
export type HandshakeStage = "none" | "initiation-created";

/** The crypto and static identity a handshake runs with. */
export interface LocalIdentity {
  /** Our static private key. */
  readonly privateKey: Uint8Array;
  /** Our static public key. */
  readonly publicKey: Uint8Array;
  /** The key agreement backend. */
  readonly dh: Dh;
  /** The AEAD used for the handshake's encrypted fields. */
  readonly aead: Aead;
}

// Idle peers share these (only ever read, or wiped to the zeros they hold): a mesh of a
// thousand peers per node should not hold a thousand sets of empty key buffers.
const NO_KEY = new Uint8Array(32);
const NO_TIMESTAMP = new Uint8Array(TAI64N_SIZE);

/**
 * One peer's handshake state: our own initiation in flight (until its response comes) and what
 * guards against replayed initiations from the peer. Answering the peer's initiation never
 * touches our own: when both sides initiate at the same moment, each answers the other and
 * still completes its own, instead of both waiting for a retransmission.
 */
export class Handshake {
  /** Where our initiation stands. */
  stage: HandshakeStage = "none";
  /** The running Noise hash of our initiation. */
  hash: Uint8Array = NO_KEY;
  /** The running Noise chaining key of our initiation. */
  chainKey: Uint8Array = NO_KEY;
  /** Our ephemeral private key while our initiation is in flight. */
  localEphemeral: Uint8Array = NO_KEY;
  /** Our index for our initiation (the peer puts it in the response's `receiver`). */
  localIndex = 0;
  /** The newest initiation timestamp accepted from this peer (replay protection). */
  lastTimestamp: Uint8Array = NO_TIMESTAMP;
  /** Monotonic time (ms) the last initiation from this peer was accepted (flood protection). */
  lastInitiationConsumed = -Infinity;
  /** The caller's name for `presharedKey` (0: none given); a session made with it carries it. */
  presharedKeyTag = 0;
  /**
   * A second preshared key an initiator accepts a response under when the first fails (null:
   * none): while two peers switch keys, the responder may still use the other one, and the
   * handshake then completes on the second try instead of failing (at most two tries).
   */
  alternatePresharedKey: Uint8Array | null = null;
  /** The caller's name for `alternatePresharedKey`. */
  alternatePresharedKeyTag = 0;
  #staticStatic: Uint8Array | null = null;
  readonly #local: LocalIdentity;

  constructor(
    /** The peer's static public key. */
    readonly remoteStatic: Uint8Array,
    /** The preshared key (all zeros when none). */
    public presharedKey: Uint8Array,
    local: LocalIdentity,
  ) {
    this.#local = local;
    if (remoteStatic.length !== 32) throw new RangeError("a public key has 32 bytes");
  }

  /**
   * DH(our static, their static), computed on first use and kept: a mesh of a thousand peers
   * pays for it only for the peers it actually talks to. Throws for a low-order key.
   */
  get staticStatic(): Uint8Array {
    this.#staticStatic ??= this.#local.dh.shared(this.#local.privateKey, this.remoteStatic);
    return this.#staticStatic;
  }

  /** Wipes the kept DH(our static, their static): our static key changed. */
  forgetStaticStatic(): void {
    this.#staticStatic?.fill(0);
    this.#staticStatic = null;
  }

  /** Forgets our in-flight initiation and wipes its secrets. */
  clear(): void {
    wipe(this.hash, this.chainKey, this.localEphemeral);
    this.hash = this.chainKey = this.localEphemeral = NO_KEY;
    this.stage = "none";
    this.localIndex = 0;
  }
}

/** Transport keys derived from a finished handshake. */
export interface SessionKeys {
  /** Key for what we send. */
  send: Uint8Array;
  /** Key for what we receive. */
  receive: Uint8Array;
  /** Our index: the peer sends it as `receiver`. */
  localIndex: number;
  /** The peer's index: we send it as `receiver`. */
  remoteIndex: number;
  /** True when we initiated (only the initiator rekeys on time). */
  isInitiator: boolean;
  /** The tag of the preshared key the handshake used (Handshake.presharedKeyTag). */
  presharedKeyTag: number;
}

function sealField(
  aead: Aead,
  key: Uint8Array,
  src: Uint8Array,
  dst: Uint8Array,
  ad: Uint8Array,
): void {
  const k = aead.key(key);
  try {
    k.seal(0, src, dst, ad);
  } finally {
    k.destroy();
  }
}

function openField(
  aead: Aead,
  key: Uint8Array,
  src: Uint8Array,
  dst: Uint8Array,
  ad: Uint8Array,
): boolean {
  const k = aead.key(key);
  try {
    return k.open(0, src, dst, ad);
  } finally {
    k.destroy();
  }
}

function sharedOrNull(dh: Dh, priv: Uint8Array, pub: Uint8Array): Uint8Array | null {
  try {
    return dh.shared(priv, pub);
  } catch {
    return null;
  }
}

/**
 * Writes a handshake initiation into `msg` (148 bytes; MACs left for the cookie layer) and moves
 * `hs` to "initiation-created".
 */
export function createInitiation(
  local: LocalIdentity,
  hs: Handshake,
  localIndex: number,
  unixMs: number,
  msg: Uint8Array,
): void {
  msg.fill(0, 0, INITIATION_SIZE);
  writeU32(msg, 0, MSG_INITIATION);
  writeU32(msg, Initiation.sender, localIndex);

  const ck = INITIAL_CHAIN_KEY.slice();
  let h = hash(INITIAL_HASH, hs.remoteStatic);
  const ePriv = local.dh.generatePrivate();
  const ePub = local.dh.publicKey(ePriv);
  let [c] = kdf1(ck, ePub);
  msg.set(ePub, Initiation.ephemeral);
  h = hash(h, ePub);

  const es = local.dh.shared(ePriv, hs.remoteStatic);
  let k: Uint8Array;
  [c, k] = kdf2(c, es);
  const staticField = msg.subarray(Initiation.static, Initiation.static + Initiation.staticSize);
  sealField(local.aead, k, local.publicKey, staticField, h);
  h = hash(h, staticField);

  [c, k] = kdf2(c, hs.staticStatic);
  const ts = new Uint8Array(TAI64N_SIZE);
  writeTai64n(unixMs, ts);
  const tsField = msg.subarray(
    Initiation.timestamp,
    Initiation.timestamp + Initiation.timestampSize,
  );
  sealField(local.aead, k, ts, tsField, h);
  h = hash(h, tsField);
  wipe(es, k, ck);

  hs.clear();
  hs.chainKey = c;
  hs.hash = h;
  hs.localEphemeral = ePriv;
  hs.localIndex = localIndex;
  hs.stage = "initiation-created";
}

/** A checked initiation from a peer: the responder's half of the handshake, until answered. */
export interface ConsumedInitiation<P> {
  /** The peer whose static key the initiation carried. */
  peer: P;
  /** That peer's handshake record. */
  handshake: Handshake;
  /** The running Noise hash after the initiation. */
  hash: Uint8Array;
  /** The running Noise chaining key after the initiation. */
  chainKey: Uint8Array;
  /** The initiator's ephemeral public key. */
  remoteEphemeral: Uint8Array;
  /** The initiator's index (our response's `receiver`). */
  remoteIndex: number;
}

/**
 * Checks and decrypts an initiation (MAC1 already verified). Finds the peer by the static key it
 * carries with `lookup`, rejects replayed timestamps and floods, and on success records the
 * timestamp and returns what `createResponse` needs; our own initiation to that peer, if one is in
 * flight, stays as it was. Returns null for anything that does not authenticate.
 */
export function consumeInitiation<P>(
  local: LocalIdentity,
  msg: Uint8Array,
  lookup: (staticKey: Uint8Array) => { peer: P; handshake: Handshake } | undefined,
  nowMs: number,
  minInitiationIntervalMs: number,
  rejected?: (why: "replay" | "flood") => void,
): ConsumedInitiation<P> | null {
  if (msg.length !== INITIATION_SIZE) return null;
  const ePub = msg.slice(Initiation.ephemeral, Initiation.ephemeral + 32);
  let h = hash(INITIAL_HASH, local.publicKey);
  h = hash(h, ePub);
  let [c] = kdf1(INITIAL_CHAIN_KEY, ePub);

  const es = sharedOrNull(local.dh, local.privateKey, ePub);
  if (!es) return null;
  let k: Uint8Array;
  [c, k] = kdf2(c, es);
  const staticField = msg.subarray(Initiation.static, Initiation.static + Initiation.staticSize);
  const remoteStatic = new Uint8Array(32);
  if (!openField(local.aead, k, staticField, remoteStatic, h)) return null;
  h = hash(h, staticField);

  const found = lookup(remoteStatic);
  if (!found) return null;
  const hs = found.handshake;
  let ss: Uint8Array;
  try {
    ss = hs.staticStatic;
  } catch {
    return null;
  }
  [c, k] = kdf2(c, ss);
  const tsField = msg.subarray(
    Initiation.timestamp,
    Initiation.timestamp + Initiation.timestampSize,
  );
  const ts = new Uint8Array(TAI64N_SIZE);
  if (!openField(local.aead, k, tsField, ts, h)) return null;
  h = hash(h, tsField);
  wipe(es, k);

  // Well formed, from a known peer: an old timestamp (the same initiation twice, as one sent to
  // two of our endpoints arrives) or one too soon after the last, which `rejected` hears.
  if (!tai64nAfter(ts, hs.lastTimestamp)) {
    rejected?.("replay");
    return null;
  }
  if (nowMs - hs.lastInitiationConsumed < minInitiationIntervalMs) {
    rejected?.("flood");
    return null;
  }

  hs.lastTimestamp = ts;
  hs.lastInitiationConsumed = nowMs;
  return {
    peer: found.peer,
    handshake: hs,
    hash: h,
    chainKey: c,
    remoteEphemeral: ePub,
    remoteIndex: readU32(msg, Initiation.sender),
  };
}

/**
 * Writes a handshake response (92 bytes; MACs left for the cookie layer) to a consumed
 * initiation, and returns the session keys (we are the responder). The initiation's secrets are
 * wiped: it can be answered once.
 */
export function createResponse(
  local: LocalIdentity,
  init: ConsumedInitiation<unknown>,
  localIndex: number,
  msg: Uint8Array,
): SessionKeys | null {
  if (init.chainKey === NO_KEY) return null;
  const hs = init.handshake;
  msg.fill(0, 0, RESPONSE_SIZE);
  writeU32(msg, 0, MSG_RESPONSE);
  writeU32(msg, Response.sender, localIndex);
  writeU32(msg, Response.receiver, init.remoteIndex);

  const ePriv = local.dh.generatePrivate();
  const ePub = local.dh.publicKey(ePriv);
  msg.set(ePub, Response.ephemeral);
  let [c] = kdf1(init.chainKey, ePub);
  let h = hash(init.hash, ePub);
  wipe(init.chainKey, init.hash);
  init.chainKey = init.hash = NO_KEY;

  const ee = sharedOrNull(local.dh, ePriv, init.remoteEphemeral);
  const se = sharedOrNull(local.dh, ePriv, hs.remoteStatic);
  if (!ee || !se) return null;
  [c] = kdf1(c, ee);
  [c] = kdf1(c, se);
  const [c2, t, k] = kdf3(c, hs.presharedKey);
  c = c2;
  h = hash(h, t);
  const emptyField = msg.subarray(Response.empty, Response.empty + Response.emptySize);
  sealField(local.aead, k, EMPTY, emptyField, h);
  h = hash(h, emptyField);
  wipe(ee, se, t, k, ePriv);

  const [receive, send] = kdf2(c, EMPTY);
  const keys: SessionKeys = {
    send,
    receive,
    localIndex,
    remoteIndex: init.remoteIndex,
    isInitiator: false,
    presharedKeyTag: hs.presharedKeyTag,
  };
  wipe(c, h);
  return keys;
}

/**
 * Checks a handshake response (MAC1 already verified) against the initiation `hs` sent, and on
 * success returns the session keys (we are the initiator). Returns null otherwise.
 */
export function consumeResponse(
  local: LocalIdentity,
  hs: Handshake,
  msg: Uint8Array,
): SessionKeys | null {
  if (msg.length !== RESPONSE_SIZE || hs.stage !== "initiation-created") return null;
  if (readU32(msg, Response.receiver) !== hs.localIndex) return null;
  const ePub = msg.subarray(Response.ephemeral, Response.ephemeral + 32);
  const h = hash(hs.hash, ePub);
  let [c] = kdf1(hs.chainKey, ePub);
  const ee = sharedOrNull(local.dh, hs.localEphemeral, ePub);
  const se = sharedOrNull(local.dh, local.privateKey, ePub);
  if (!ee || !se) return null;
  [c] = kdf1(c, ee);
  [c] = kdf1(c, se);
  wipe(ee, se);
  const emptyField = msg.subarray(Response.empty, Response.empty + Response.emptySize);
  // The preshared key is mixed in last: everything before it is shared by both tries.
  let tag = hs.presharedKeyTag;
  let done = mixPresharedKey(local, c, h, hs.presharedKey, emptyField);
  const alt = hs.alternatePresharedKey;
  if (done === null && alt !== null) {
    tag = hs.alternatePresharedKeyTag;
    done = mixPresharedKey(local, c, h, alt, emptyField);
  }
  wipe(c, h);
  if (done === null) return null;

  const [send, receive] = kdf2(done, EMPTY);
  const keys: SessionKeys = {
    send,
    receive,
    localIndex: hs.localIndex,
    remoteIndex: readU32(msg, Response.sender),
    isInitiator: true,
    presharedKeyTag: tag,
  };
  wipe(done);
  hs.clear();
  return keys;
}

/**
 * The response's last step under one preshared key: the chaining key after it when the empty
 * field opens, else null (what it derived wiped either way). `c` and `h` are left as they were.
 */
function mixPresharedKey(
  local: LocalIdentity,
  c: Uint8Array,
  h: Uint8Array,
  psk: Uint8Array,
  emptyField: Uint8Array,
): Uint8Array | null {
  const [c2, t, k] = kdf3(c, psk);
  const h2 = hash(h, t);
  const ok = openField(local.aead, k, emptyField, EMPTY, h2);
  wipe(t, k, h2);
  if (ok) return c2;
  wipe(c2);
  return null;
}

/** A 32-byte all-zero key: what "no preshared key" means. */
export function noPresharedKey(): Uint8Array {
  return ZERO_KEY.slice();
}
