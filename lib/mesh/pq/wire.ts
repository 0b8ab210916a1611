/**
 * The post-quantum key exchange's messages between two members, on their overlay addresses'
 * {@link PQ_PORT} through the tunnel: binary, not the control channel's JSON, because an
 * ML-KEM-768 encapsulation key (1,184 bytes) in base64 would not fit one datagram at the
 * tunnel's MTU, and a datagram is all the control stack carries. Each message names the
 * initiator's run (`sid`, random per pair and process: a restarted member is a new run) and the
 * rotation it belongs to.
 *
 * | byte | offer                     | answer          | confirm  |
 * | ---- | ------------------------- | --------------- | -------- |
 * | 0    | version 1                 | 1               | 1        |
 * | 1    | type 1                    | 2               | 3        |
 * | 2-5  | sid                       | sid             | sid      |
 * | 6-9  | rotation                  | rotation        | rotation |
 * | 10-  | have (4), encapsulation key | ciphertext    |          |
 * @module
 */

export { PQ_PORT } from "../../members/ports.ts";

/** ML-KEM-768's encapsulation key size. */
export const EK_BYTES = 1184;
/** ML-KEM-768's ciphertext size. */
export const CT_BYTES = 1088;

const VERSION = 1;
const HEADER = 10;

/** A message of the exchange. */
export type PqMessage =
  | {
    t: "offer";
    sid: number;
    rotation: number;
    /** The rotation of the key the initiator makes sessions with now (0: none yet). */
    have: number;
    ek: Uint8Array;
  }
  | { t: "answer"; sid: number; rotation: number; ct: Uint8Array }
  | { t: "confirm"; sid: number; rotation: number };

/** A message's bytes. */
export function encodePq(m: PqMessage): Uint8Array {
  const body = m.t === "offer" ? 4 + EK_BYTES : m.t === "answer" ? CT_BYTES : 0;
  const out = new Uint8Array(HEADER + body);
  const v = new DataView(out.buffer);
  out[0] = VERSION;
  out[1] = m.t === "offer" ? 1 : m.t === "answer" ? 2 : 3;
  v.setUint32(2, m.sid);
  v.setUint32(6, m.rotation);
  if (m.t === "offer") {
    v.setUint32(HEADER, m.have);
    out.set(m.ek, HEADER + 4);
  } else if (m.t === "answer") out.set(m.ct, HEADER);
  return out;
}

/**
 * Parses a message: null for anything else (another version, a type unknown, a size that is not
 * the type's, a rotation of 0). The keys and ciphertexts are copies.
 */
export function parsePq(data: Uint8Array): PqMessage | null {
  if (data.length < HEADER || data[0] !== VERSION) return null;
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const sid = v.getUint32(2);
  const rotation = v.getUint32(6);
  if (rotation === 0) return null;
  switch (data[1]) {
    case 1:
      if (data.length !== HEADER + 4 + EK_BYTES) return null;
      return {
        t: "offer",
        sid,
        rotation,
        have: v.getUint32(HEADER),
        ek: data.slice(HEADER + 4),
      };
    case 2:
      return data.length === HEADER + CT_BYTES
        ? { t: "answer", sid, rotation, ct: data.slice(HEADER) }
        : null;
    case 3:
      return data.length === HEADER ? { t: "confirm", sid, rotation } : null;
    default:
      return null;
  }
}
