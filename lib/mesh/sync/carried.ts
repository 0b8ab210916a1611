/**
 * Pushes carried by members: the wire format and its signature.
 *
 * In a mesh where every member sees every member, a push tells each of N members the same
 * delta: at 10,000 members the leader sealed and wrote some 200 datagrams a join, which set
 * its CPU a join growing with the mesh. So the leader signs a push's parts once (Ed25519) and
 * sends them to a few members (carriers), each with a list of others to pass them on to (a
 * `carry` message, over the leader's own WireGuard session: only a leader can make a member
 * carry). A member takes a carried part only under the signature of a leader key it was given
 * by that leader (a `pushkey` answer to its hello), and only for the policy it holds: a carrier
 * can drop a push (the member asks at the next news or hello, as for a lost datagram), not change
 * or forge one. Replayed parts are old deltas, which a member past them does not apply
 * (protocol.ts `appliesTo`).
 *
 * A carried datagram: the marker ({@link CARRIED}), the key's id (8 bytes), the policy version
 * the part was made under (u32, big-endian), the signature (64 bytes), then the part as the
 * leader would have sent it. The signature covers a context string, the policy version and the
 * part.
 * @module
 */

import { ed25519Signer, type Ed25519Verifier, ed25519Verifier } from "../../crypto/ed25519.ts";
import { decodeBase64, encodeBase64 } from "../../crypto/base64.ts";

/** The first byte of a carried part's datagram. */
export const CARRIED = 0x04;
/** The most parts a `carry` message asks a member to pass on (a push's delta, at most). */
export const CARRY_PARTS_MAX = 32;
/** The most members a `carry` message names. */
export const CARRY_TO_MAX = 128;
/** Bytes of a push key's id. */
export const PUSH_KEY_ID_BYTES = 8;
const SIG_BYTES = 64;
/** Where a carried datagram's policy version (u32, big-endian) starts. */
export const CARRIED_PV_AT = 1 + PUSH_KEY_ID_BYTES;
/** Where a carried datagram's signature starts. */
export const CARRIED_SIG_AT = CARRIED_PV_AT + 4;
/** Bytes of a carried datagram before its part. */
export const CARRIED_HEAD_BYTES = CARRIED_SIG_AT + SIG_BYTES;
const CONTEXT = new TextEncoder().encode("weft carried push 1\0");

/** A carried part, unpacked and not yet checked. */
export interface CarriedPart {
  /** The id of the key that signed it (base64). */
  keyId: string;
  /** The policy version it was made under. */
  pv: number;
  /** The part as the leader made it (a view or delta datagram). */
  part: Uint8Array;
  /** The whole datagram, as passed on. */
  bytes: Uint8Array;
  /** The signature. */
  sig: Uint8Array;
}

/** A carried datagram unpacked; null when it is not one (or too short). */
export function unpackCarried(data: Uint8Array): CarriedPart | null {
  if (data.length <= CARRIED_HEAD_BYTES || data[0] !== CARRIED) return null;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return {
    keyId: encodeBase64(data.subarray(1, 1 + PUSH_KEY_ID_BYTES)),
    pv: view.getUint32(CARRIED_PV_AT),
    sig: data.subarray(CARRIED_SIG_AT, CARRIED_HEAD_BYTES),
    part: data.subarray(CARRIED_HEAD_BYTES),
    bytes: data,
  };
}

function signed(pv: number, part: Uint8Array): Uint8Array {
  const out = new Uint8Array(CONTEXT.length + 4 + part.length);
  out.set(CONTEXT);
  new DataView(out.buffer).setUint32(CONTEXT.length, pv);
  out.set(part, CONTEXT.length + 4);
  return out;
}

/** A push key's id: the first bytes of its public key, base64. */
function idOf(raw: Uint8Array): string {
  return encodeBase64(raw.subarray(0, PUSH_KEY_ID_BYTES));
}

/**
 * A leader's push key: made at its start (members learn it at their next hello), it signs the
 * parts members carry for each other.
 *
 * @example
 * ```ts
 * import { PushSigner, pushKeyOf, unpackCarried, verifyCarried } from "./carried.ts";
 * const signer = new PushSigner();
 * const bytes = signer.seal(new TextEncoder().encode('{"t":"delta"}'), 0);
 * const key = pushKeyOf(signer.publicKey)!;
 * verifyCarried(key, unpackCarried(bytes)!); // true
 * ```
 */
export class PushSigner {
  readonly #sign: (msg: Uint8Array) => Uint8Array;
  readonly #id: Uint8Array;
  /** The public key, base64 of its 32 raw bytes. */
  readonly publicKey: string;
  /** The key's id, as hellos say it. */
  readonly keyId: string;

  /** A new key. */
  constructor() {
    const signer = ed25519Signer();
    this.#sign = signer.sign;
    const raw = signer.publicKey;
    this.publicKey = encodeBase64(raw);
    this.#id = raw.slice(0, PUSH_KEY_ID_BYTES);
    this.keyId = idOf(raw);
  }

  /** `part` (made under policy version `pv`) as a signed carried datagram. */
  seal(part: Uint8Array, pv: number): Uint8Array {
    const sig = this.#sign(signed(pv, part));
    const out = new Uint8Array(CARRIED_HEAD_BYTES + part.length);
    out[0] = CARRIED;
    out.set(this.#id, 1);
    new DataView(out.buffer).setUint32(CARRIED_PV_AT, pv);
    out.set(sig, CARRIED_SIG_AT);
    out.set(part, CARRIED_HEAD_BYTES);
    return out;
  }
}

/** A leader's push key as a member holds it. */
export interface PushKey {
  id: string;
  key: Ed25519Verifier;
  /** As the leader sent it (base64). */
  text: string;
}

/** The key a `pushkey` message names (base64 of 32 raw bytes); null when it is none. */
export function pushKeyOf(text: unknown): PushKey | null {
  if (typeof text !== "string" || text.length !== 44) return null;
  const raw = decodeBase64(text);
  if (raw === null || raw.length !== 32) return null;
  const key = ed25519Verifier(raw);
  return key ? { id: idOf(raw), key, text } : null;
}

/** Whether `c` carries a valid signature of `key`. */
export function verifyCarried(key: PushKey, c: CarriedPart): boolean {
  if (c.keyId !== key.id) return false;
  return key.key.verify(signed(c.pv, c.part), c.sig);
}
