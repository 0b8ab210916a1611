/**
 * WireGuard's wire constants and protocol timers, from the WireGuard paper (section 5 and 6).
 * @module
 */

/** The Noise construction string hashed into the initial chaining key. */
export const CONSTRUCTION = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
/** The protocol identifier mixed into the initial hash. */
export const IDENTIFIER = "WireGuard v1 zx2c4 Jason@zx2c4.com";
/** Label for the MAC1 key. */
export const LABEL_MAC1 = "mac1----";
/** Label for the cookie encryption key. */
export const LABEL_COOKIE = "cookie--";

/** Message type of a handshake initiation. */
export const MSG_INITIATION = 1;
/** Message type of a handshake response. */
export const MSG_RESPONSE = 2;
/** Message type of a cookie reply. */
export const MSG_COOKIE_REPLY = 3;
/** Message type of transport data. */
export const MSG_TRANSPORT = 4;

/** Size of a handshake initiation. */
export const INITIATION_SIZE = 148;
/** Size of a handshake response. */
export const RESPONSE_SIZE = 92;
/** Size of a cookie reply. */
export const COOKIE_REPLY_SIZE = 64;
/** Size of the transport data header (type, receiver, counter). */
export const TRANSPORT_HEADER_SIZE = 16;
/** Size of a Poly1305 tag. */
export const TAG_SIZE = 16;
/** Smallest transport message: a keepalive (header and tag only). */
export const TRANSPORT_MIN_SIZE: number = TRANSPORT_HEADER_SIZE + TAG_SIZE;
/** Transport payloads are padded to a multiple of this. */
export const PADDING = 16;

/** Counter values at or past this are never sent or accepted (2^64 - 2^13 - 1 in the paper). */
export const REJECT_AFTER_MESSAGES: number = Number.MAX_SAFE_INTEGER;
/** Past this many messages on a keypair the initiator rekeys (2^60 in the paper). */
export const REKEY_AFTER_MESSAGES: number = 2 ** 52;

/** The protocol timers in milliseconds, injectable so tests can run a rekey cycle quickly. */
export interface ProtocolTimers {
  /** Initiator starts a new handshake once its session is this old. */
  rekeyAfterTime: number;
  /** A session this old is neither used to send nor to receive. */
  rejectAfterTime: number;
  /** Give up retrying a handshake after this long. */
  rekeyAttemptTime: number;
  /** Retransmit an unanswered initiation after this long (plus jitter). */
  rekeyTimeout: number;
  /** Send a keepalive when data arrived and nothing was sent back for this long. */
  keepaliveTimeout: number;
  /** A cookie is good for this long; the cookie secret rotates this often. */
  cookieRefreshTime: number;
  /** Up to this much random delay is added to handshake retransmissions. */
  rekeyJitter: number;
  /** Initiator rekeys after this many messages. */
  rekeyAfterMessages: number;
}

/** The timers of the WireGuard paper. */
export const DEFAULT_TIMERS: Readonly<ProtocolTimers> = Object.freeze({
  rekeyAfterTime: 120_000,
  rejectAfterTime: 180_000,
  rekeyAttemptTime: 90_000,
  rekeyTimeout: 5_000,
  keepaliveTimeout: 10_000,
  cookieRefreshTime: 120_000,
  rekeyJitter: 333,
  rekeyAfterMessages: REKEY_AFTER_MESSAGES,
});

/** Fills in defaults for any timer not given and checks the values make sense. */
export function resolveTimers(partial: Partial<ProtocolTimers> = {}): ProtocolTimers {
  const t: ProtocolTimers = { ...DEFAULT_TIMERS, ...partial };
  for (const [k, v] of Object.entries(t)) {
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
      throw new RangeError(`timer ${k} must be a non-negative number, got ${v}`);
    }
  }
  if (t.rekeyAfterTime >= t.rejectAfterTime) {
    throw new RangeError("timer rekeyAfterTime must be less than rejectAfterTime");
  }
  return t;
}
