/**
 * Quality of service on policy rules: the units a rule's `qos` is written in (rates in bits per
 * second as `tc` writes them, bursts in bytes), the default burst, and the per-rule token buckets
 * the filter charges the packets it sends.
 *
 * - Rates: a number (integer or decimal) and a unit, `bit`, `kbit`, `mbit` or `gbit` (1000-based,
 *   as `tc`: `20mbit` is 20,000,000 bits per second), between 1 kbit and 100 gbit. A bare number
 *   is refused: in `tc` it means bytes per second, a trap.
 * - Bursts: a number of bytes, or a number and a unit `b`, `kb` or `mb` (1024-based, as `tc`:
 *   `64kb` is 65,536 bytes), between 1500 bytes (a packet larger than the burst could never pass
 *   at once) and 64 mb.
 * - The default burst is {@link DEFAULT_BURST_MS} of the rate, at least {@link MIN_DEFAULT_BURST}
 *   bytes: enough for a TCP flow's bursts, so that its average over seconds reaches the rate.
 * - A packet finding too few tokens waits for them, up to {@link QUEUE_MS} of the rate of
 *   packets per rule (shaping, `pacer.ts`); past that it is dropped (policing).
 * @module
 */

/**
 * A rule's traffic class: the DSCP its flows' underlay datagrams carry ({@link QOS_CLASS_TOS}),
 * so that a full send queue below weft (the host's own qdisc on a slow uplink, a router, Wi-Fi)
 * lets interactive packets leave first and bulk ones last. Inside the tunnel every packet to a
 * peer is one UDP flow, which a queue can only tell apart by this mark.
 */
export type QosClass = "interactive" | "bulk";

/**
 * The type-of-service byte (DSCP << 2) of each class's underlay datagrams, chosen so that the
 * three common readings agree: interactive is DSCP 44 (VOICE-ADMIT, RFC 5865: the EF kind; the
 * video access category of Wi-Fi's WMM; band 0, first, of Linux's default pfifo_fast, whose old
 * TOS bits read it as low delay), bulk is DSCP 10 (AF11, high-throughput data in RFC 4594; WMM's
 * background category; pfifo_fast's last band, maximize throughput).
 */
export const QOS_CLASS_TOS: Readonly<Record<QosClass, number>> = Object.freeze({
  interactive: 44 << 2,
  bulk: 10 << 2,
});

/** A rule's quality of service, normalized. */
export interface RuleQos {
  /** The rate limit, bits per second; absent: no limit. */
  rate?: number;
  /** The bucket's depth, bytes (only with `rate`); absent: {@link defaultBurst} of the rate. */
  burst?: number;
  /** The traffic class; absent: normal. */
  class?: QosClass;
}

/** The JSON-safe, YAML-shaped form of a rule's qos. */
export interface RuleQosWire {
  /** The rate, e.g. `"20mbit"`. */
  rate?: string;
  /** The burst, e.g. `"64kb"`. */
  burst?: string;
  /** The traffic class. */
  class?: QosClass;
}

/** The smallest and largest rate, bits per second (1 kbit, 100 gbit). */
export const RATE_RANGE = { min: 1_000, max: 100_000_000_000 } as const;
/** The smallest and largest burst, bytes (1500 b, 64 mb). */
export const BURST_RANGE = { min: 1500, max: 64 * 1024 * 1024 } as const;
/** The default burst lasts this long at the rate (ms). */
export const DEFAULT_BURST_MS = 100;
/** The smallest default burst, bytes: two full-sized packets. */
export const MIN_DEFAULT_BURST = 3000;

const RATE_UNITS: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 };
const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 * 1024 };
const RATE_RE = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)\s*$/i;

/**
 * A rate (`"20mbit"`, `"1.5gbit"`) in bits per second, rounded to a whole bit; throws an Error
 * saying what is wrong.
 */
export function parseRate(text: unknown): number {
  if (typeof text === "number") {
    throw new Error(
      `bad rate ${text}: give a unit, bit, kbit, mbit or gbit (e.g. ${text}mbit)`,
    );
  }
  const m = typeof text === "string" ? RATE_RE.exec(text) : null;
  const unit = m?.[2].toLowerCase();
  if (!m || unit === undefined || !(unit in RATE_UNITS)) {
    throw new Error(
      `bad rate ${
        JSON.stringify(text) ?? String(text)
      }: expected a number and a unit, bit, kbit, mbit or gbit (e.g. 20mbit)`,
    );
  }
  const bits = Math.round(Number(m[1]) * RATE_UNITS[unit]);
  if (!(bits >= RATE_RANGE.min && bits <= RATE_RANGE.max)) {
    throw new Error(`bad rate "${text}": a rate is 1kbit-100gbit`);
  }
  return bits;
}

/**
 * A burst (`"64kb"`, `"1.5mb"`, `"3000b"`, or a number of bytes) in bytes, rounded to a whole
 * byte; throws an Error saying what is wrong.
 */
export function parseBurst(text: unknown): number {
  let bytes: number;
  if (typeof text === "number") bytes = Math.round(text);
  else {
    const m = typeof text === "string" ? RATE_RE.exec(text) : null;
    const unit = m?.[2].toLowerCase() || "b";
    if (!m || !(unit in SIZE_UNITS)) {
      throw new Error(
        `bad burst ${
          JSON.stringify(text) ?? String(text)
        }: expected bytes, or a number and a unit, b, kb or mb (1024-based; e.g. 64kb)`,
      );
    }
    bytes = Math.round(Number(m[1]) * SIZE_UNITS[unit]);
  }
  if (!(bytes >= BURST_RANGE.min && bytes <= BURST_RANGE.max)) {
    throw new Error(`bad burst ${JSON.stringify(text)}: a burst is 1500b-64mb`);
  }
  return bytes;
}

/** A rate as the largest unit that writes it exactly: `20mbit`, `1500kbit`, `12345bit`. */
export function formatRate(bits: number): string {
  for (const unit of ["gbit", "mbit", "kbit"]) {
    const n = bits / RATE_UNITS[unit];
    if (Number.isInteger(n)) return `${n}${unit}`;
  }
  return `${bits}bit`;
}

/** A burst as the largest unit that writes it exactly: `64kb`, `2mb`, `25000b`. */
export function formatBurst(bytes: number): string {
  for (const unit of ["mb", "kb"]) {
    const n = bytes / SIZE_UNITS[unit];
    if (Number.isInteger(n)) return `${n}${unit}`;
  }
  return `${bytes}b`;
}

/** The burst of a rate that gives none: {@link DEFAULT_BURST_MS} of it, at least 3000 bytes. */
export function defaultBurst(rateBits: number): number {
  return Math.max(MIN_DEFAULT_BURST, Math.ceil(rateBits / 8 * DEFAULT_BURST_MS / 1000));
}

/** The burst in force for a qos with a rate: its own, or the default. */
export function effectiveBurst(qos: RuleQos & { rate: number }): number {
  return qos.burst ?? defaultBurst(qos.rate);
}

/** A qos in the wire form. */
export function qosToWire(q: RuleQos): RuleQosWire {
  const w: RuleQosWire = {};
  if (q.rate !== undefined) w.rate = formatRate(q.rate);
  if (q.burst !== undefined) w.burst = formatBurst(q.burst);
  if (q.class !== undefined) w.class = q.class;
  return w;
}

/** A qos for people: `rate 20mbit burst 250000b (default) class bulk`. */
export function describeQos(q: RuleQos): string {
  const parts: string[] = [];
  if (q.rate !== undefined) {
    parts.push(`rate ${formatRate(q.rate)}`);
    parts.push(
      q.burst !== undefined
        ? `burst ${formatBurst(q.burst)}`
        : `burst ${formatBurst(defaultBurst(q.rate))} (default)`,
    );
  }
  if (q.class !== undefined) parts.push(`class ${q.class}`);
  return parts.join(" ");
}

/** A rule's rate figures: what its rate let through at once, held back a while, and dropped. */
export interface RateCounts {
  /** Bytes (of inner IP packets) sent at once under the rate. */
  passedBytes: number;
  /** Packets sent at once under the rate. */
  passedPackets: number;
  /** Bytes held back until the bucket had their tokens, then sent (shaped). */
  delayedBytes: number;
  /** Packets held back, then sent. */
  delayedPackets: number;
  /** Bytes dropped: too few tokens, and no room to wait. */
  droppedBytes: number;
  /** Packets dropped: too few tokens, and no room to wait. */
  droppedPackets: number;
}

/** {@link RateBuckets.take}: the packet may leave now. */
export const TAKE_PASS = 0;
/** {@link RateBuckets.take}: the packet has its tokens but must wait until `due[0]`. */
export const TAKE_WAIT = 1;
/** {@link RateBuckets.take}: too few tokens and no room to wait: the packet is dropped. */
export const TAKE_DROP = 2;

/**
 * How long a rule's packets may wait for tokens (ms of its rate, at least
 * {@link MIN_DEFAULT_BURST} bytes) before the next ones are dropped: a TCP flow then meets a
 * short queue, as at a slower link, instead of losses at every burst.
 */
export const QUEUE_MS = 100;

/**
 * One token bucket per rule (of a compiled policy, by rule index), in typed arrays: charging a
 * packet allocates nothing. A rule without a rate has rate 0 and is never charged. A packet that
 * finds too few tokens may take them on credit, down to the rule's queue depth below zero, and
 * leave once the bucket has refilled to zero (`TAKE_WAIT`): the queue then sends the rule's
 * packets at its rate (shaping); past the depth, or with nowhere to wait, it is dropped.
 */
export class RateBuckets {
  /** Rules (bucket slots). */
  readonly size: number;
  /** Refill rate per rule, bytes per ms (0: no rate). */
  readonly rate: Float64Array;
  /** Depth per rule, bytes. */
  readonly burst: Float64Array;
  /** How far below zero each bucket may go: bytes its held-back packets may add up to. */
  readonly queue: Float64Array;
  /** Tokens (bytes) per rule at `last`; below zero while packets wait for them. */
  readonly tokens: Float64Array;
  /** When (clock ms) each bucket was last refilled; -Infinity: never (it starts full). */
  readonly last: Float64Array;
  /** Where `take` writes when a `TAKE_WAIT` packet may leave (clock ms). */
  readonly due: Float64Array = new Float64Array(1);
  /** Bytes passed at once under the rate, per rule. */
  readonly passedBytes: Float64Array;
  /** Packets passed at once under the rate, per rule. */
  readonly passedPackets: Float64Array;
  /** Bytes held back, per rule. */
  readonly delayedBytes: Float64Array;
  /** Packets held back, per rule. */
  readonly delayedPackets: Float64Array;
  /** Bytes dropped by the rate, per rule. */
  readonly droppedBytes: Float64Array;
  /** Packets dropped by the rate, per rule. */
  readonly droppedPackets: Float64Array;

  /** Buckets for rules with these rates (bits per second, 0: none) and bursts (bytes). */
  constructor(rateBits: ArrayLike<number>, burstBytes: ArrayLike<number>) {
    const n = this.size = rateBits.length;
    this.rate = new Float64Array(n);
    this.burst = new Float64Array(n);
    this.queue = new Float64Array(n);
    this.tokens = new Float64Array(n);
    this.last = new Float64Array(n).fill(-Infinity);
    this.passedBytes = new Float64Array(n);
    this.passedPackets = new Float64Array(n);
    this.delayedBytes = new Float64Array(n);
    this.delayedPackets = new Float64Array(n);
    this.droppedBytes = new Float64Array(n);
    this.droppedPackets = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      if (!(rateBits[i] > 0)) continue;
      this.rate[i] = rateBits[i] / 8 / 1000;
      this.burst[i] = this.tokens[i] = burstBytes[i];
      this.queue[i] = Math.max(MIN_DEFAULT_BURST, Math.ceil(rateBits[i] / 8 * QUEUE_MS / 1000));
    }
  }

  /**
   * Charges rule `r`'s bucket `len` bytes at time `now[0]` (clock ms; a typed array, so the
   * changing time is never boxed): `TAKE_PASS` when it had the tokens, `TAKE_WAIT` when it takes
   * them on credit and the packet must wait until `due[0]` (only when `canWait`), `TAKE_DROP`
   * otherwise. Counted in each case. The bucket refills at the rate up to its depth.
   */
  take(r: number, len: number, now: Float64Array, canWait: boolean): number {
    const t = now[0];
    let tokens = this.tokens[r];
    if (t > this.last[r]) {
      tokens += (t - this.last[r]) * this.rate[r];
      const depth = this.burst[r];
      if (tokens > depth) tokens = depth;
      this.last[r] = t;
    }
    if (tokens >= len) {
      this.tokens[r] = tokens - len;
      this.passedBytes[r] += len;
      this.passedPackets[r]++;
      return TAKE_PASS;
    }
    const after = tokens - len;
    if (canWait && after >= -this.queue[r]) {
      this.tokens[r] = after;
      this.due[0] = t - after / this.rate[r];
      this.delayedBytes[r] += len;
      this.delayedPackets[r]++;
      return TAKE_WAIT;
    }
    this.tokens[r] = tokens;
    this.droppedBytes[r] += len;
    this.droppedPackets[r]++;
    return TAKE_DROP;
  }

  /**
   * Takes over bucket `from` of `old` as bucket `r` (a reload keeps a rule's tokens, so it does
   * not start a fresh burst, nor forget the credit its waiting packets took): its tokens (at
   * most this bucket's depth) and refill time.
   */
  carry(r: number, old: RateBuckets, from: number): void {
    if (!(this.rate[r] > 0) || !(old.rate[from] > 0)) return;
    this.tokens[r] = Math.min(this.burst[r], old.tokens[from]);
    this.last[r] = old.last[from];
  }

  /** Rule `r`'s figures (a rule with a rate). */
  counts(r: number): RateCounts {
    return {
      passedBytes: this.passedBytes[r],
      passedPackets: this.passedPackets[r],
      delayedBytes: this.delayedBytes[r],
      delayedPackets: this.delayedPackets[r],
      droppedBytes: this.droppedBytes[r],
      droppedPackets: this.droppedPackets[r],
    };
  }
}
