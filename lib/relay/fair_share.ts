/**
 * How a relay shares what it can do between the members that send through it: no member is held
 * to a low fixed rate, but when the relay is saturated (its process spent at least
 * {@link SATURATED} of a core over an epoch) and two or more members sent, each gets a max-min
 * fair share: a level that the heaviest senders are held to, while those under it keep all they
 * send. A relay in userspace is saturated by its CPU, and what it cannot read the kernel drops
 * from its socket, whoever sent it; holding the heaviest to the level (their packets over it are
 * dropped before the relay's MAC, the costliest part of forwarding) frees the CPU the others'
 * packets need. Each saturated epoch sets the level so that the senders would have taken
 * {@link SQUEEZE} of what was forwarded, but never under an equal split of it; each epoch that
 * is not saturated raises it by
 * {@link GROW}, and it goes once nobody comes near it. A single sender is never held: it has the
 * relay to itself. Nor is a single pair: both ends of one flow send (a TCP transfer's data one
 * way, its acknowledgements the other), and holding the heavy end frees the relay for nobody else.
 *
 * Plain numbers and no allocation per packet: each sender's figures live on its own state, the
 * senders of an epoch in one array reused, and the work of an epoch's end is per sender, not per
 * packet (a saturated epoch's end allocates one small array).
 * @module
 */

/** Milliseconds per epoch: how often the relay looks at its load and the senders' shares. */
export const FAIR_EPOCH_MS = 100;
/** The CPU, in cores, over an epoch at which the relay counts as saturated. */
export const SATURATED = 0.9;
/** A saturated epoch's level lets the senders take this much of what was forwarded. */
export const SQUEEZE = 0.9;
/** An epoch that is not saturated raises the level by this factor. */
export const GROW = 1.25;

const ascending = (a: number, b: number) => a - b;
/** What a slot of the senders' array holds between epochs. */
const IDLE: FairSender = { fairEpoch: 0, offered: 0, passed: 0 };

/** One sender's figures in the current epoch (kept on the sender's own state). */
export interface FairSender {
  /** The epoch these figures are of. */
  fairEpoch: number;
  /** Bytes it sent that reached the share check. */
  offered: number;
  /** Bytes of it let through. */
  passed: number;
}

/**
 * The level `L` at which `min(d, L)` over the demands sums to `capacity` (max-min fairness:
 * demands under `L` are met, the rest get `L`), or Infinity when the demands fit. Sorts `d`.
 */
export function waterLevel(d: number[], capacity: number): number {
  d.sort(ascending);
  let left = capacity;
  for (let i = 0; i < d.length; i++) {
    const share = left / (d.length - i);
    if (d[i] > share) return share;
    left -= d[i];
  }
  return Infinity;
}

/** A relay's fair share; see the module docs. */
export class FairShare {
  readonly #cpuMs: () => number;
  /** This epoch's senders: the first #count entries (the array is reused, never shrunk). */
  readonly #senders: FairSender[] = [];
  #count = 0;
  #epoch = 1;
  #start: number;
  #cpuStart: number;
  #forwarded = 0;
  /** The first pair heard this epoch, and whether another was heard too. */
  #pair: object | null = null;
  #pairs = false;
  /** Bytes a sender may pass per millisecond; Infinity when nobody is held. */
  #level = Infinity;
  /** Epochs that found the relay saturated with several senders. */
  saturatedEpochs = 0;

  /**
   * Shares from time `now` (ms); `cpuMs` gives the CPU the relay's process spent so far, in
   * milliseconds (null: the relay cannot tell, and never holds anyone).
   */
  constructor(now: number, cpuMs: (() => number) | null) {
    this.#cpuMs = cpuMs ?? (() => 0);
    this.#start = now;
    this.#cpuStart = this.#cpuMs();
  }

  /** The level now, bytes a second a sender may pass (Infinity: nobody held). */
  get bytesPerSecond(): number {
    return this.#level * 1000;
  }

  /**
   * Sender `s` offers `bytes` at time `now` over `pair` (the relayed pair it sends on, by
   * identity): true when they are within its share. Nothing is spent: call {@link pass} once the
   * packet is known to be the sender's (its MAC checked).
   */
  allows(s: FairSender, bytes: number, now: number, pair: object): boolean {
    if (now - this.#start >= FAIR_EPOCH_MS) this.#roll(now);
    if (pair !== this.#pair) {
      if (this.#pair === null) this.#pair = pair;
      else this.#pairs = true;
    }
    if (s.fairEpoch !== this.#epoch) {
      s.fairEpoch = this.#epoch;
      s.offered = 0;
      s.passed = 0;
      if (this.#count < this.#senders.length) this.#senders[this.#count] = s;
      else this.#senders.push(s);
      this.#count++;
    }
    s.offered += bytes;
    return s.passed + bytes <= this.#level * FAIR_EPOCH_MS;
  }

  /** `bytes` of sender `s`, just allowed, are forwarded. */
  pass(s: FairSender, bytes: number): void {
    s.passed += bytes;
    this.#forwarded += bytes;
  }

  #roll(now: number): void {
    const ms = now - this.#start;
    const cpu = this.#cpuMs();
    const busy = (cpu - this.#cpuStart) / ms;
    const senders = this.#senders;
    const n = this.#count;
    if (busy >= SATURATED && n >= 2 && this.#pairs) {
      // Once an epoch at most, and only on a saturated relay: a small array is fine here.
      const d: number[] = [];
      for (let i = 0; i < n; i++) d.push(senders[i].offered / ms);
      // Never under an equal split of what was forwarded: a relay that stays saturated for
      // another reason (the leader's own work) converges on that, not on nothing.
      const floor = this.#forwarded / ms / n;
      this.#level = Math.max(floor, waterLevel(d, SQUEEZE * this.#forwarded / ms));
      this.saturatedEpochs++;
    } else if (this.#level !== Infinity) {
      let most = 0;
      for (let i = 0; i < n; i++) most = Math.max(most, senders[i].offered / ms);
      this.#level *= GROW;
      // Nobody comes near the level: the relay has room for all.
      if (n < 2 || !this.#pairs || this.#level > 2 * most) this.#level = Infinity;
    }
    // Forget who sent (they may leave the relay) without shrinking the array.
    senders.fill(IDLE, 0, n);
    this.#count = 0;
    this.#forwarded = 0;
    this.#pair = null;
    this.#pairs = false;
    this.#epoch++;
    this.#start = now;
    this.#cpuStart = cpu;
  }
}
