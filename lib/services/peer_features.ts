/**
 * What each peer's service layer takes beyond the base protocol (today one flag: compressed
 * messages), learned by asking. Before the first large message to a peer, the socket sends a
 * `hello` carrying its own flags; a peer that knows the message answers with its flags, one that
 * does not drops it (an old node counts it `undecodable`) and the question times out: the peer
 * is then taken to support nothing, and messages to it go plain. Answers are kept for a while
 * (a peer may be upgraded or replaced at the same address), a bounded number of peers at once.
 * A hello from a peer tells its flags too, so the peer asked learns the asker's for free.
 * @module
 */

/** The peer inflates compressed messages (compression.ts). */
export const FEATURE_COMPRESSION = 1;
/** The flags this node's service layer sends. */
export const OWN_FEATURES = FEATURE_COMPRESSION;

/** The bounds of a {@link PeerFeatures}. */
export interface PeerFeaturesOptions {
  /** Sends a hello with `id` and this node's flags to `address`. */
  ask: (address: string, id: number) => void;
  /** How long an unanswered hello waits, ms. Default 1000. */
  answerMs?: number;
  /** How long an answer (or its absence) is believed, ms. Default 5 minutes. */
  keepMs?: number;
  /** Peers remembered at once (the least recent is forgotten). Default 4096. */
  maxPeers?: number;
  /** The clock, ms. */
  now?: () => number;
}

interface Known {
  flags: number;
  at: number;
}

interface Asking {
  id: number;
  readonly waiters: ((flags: number) => void)[];
  readonly timer: ReturnType<typeof setTimeout>;
}

/** The peers' flags; see the module docs. */
export class PeerFeatures {
  readonly #ask: (address: string, id: number) => void;
  readonly #answerMs: number;
  readonly #keepMs: number;
  readonly #max: number;
  readonly #now: () => number;
  readonly #known = new Map<string, Known>();
  readonly #asking = new Map<string, Asking>();
  #nextId = 1;
  /** Hellos that went unanswered. */
  unanswered = 0;

  /** A table that asks through `opts.ask`. */
  constructor(opts: PeerFeaturesOptions) {
    this.#ask = opts.ask;
    this.#answerMs = opts.answerMs ?? 1000;
    this.#keepMs = opts.keepMs ?? 300_000;
    this.#max = opts.maxPeers ?? 4096;
    this.#now = opts.now ?? (() => performance.now());
  }

  /** The flags `address` said it has, if known and fresh. */
  known(address: string): number | undefined {
    const k = this.#known.get(address);
    if (k === undefined || this.#now() - k.at >= this.#keepMs) return undefined;
    return k.flags;
  }

  /** The peer's flags: known, or asked for (0 when it does not answer in time). */
  flags(address: string): Promise<number> {
    const k = this.known(address);
    if (k !== undefined) return Promise.resolve(k);
    let a = this.#asking.get(address);
    if (a === undefined) {
      const id = this.#nextId++;
      const timer = setTimeout(() => {
        this.unanswered++;
        this.#settle(address, 0);
      }, this.#answerMs);
      a = { id, waiters: [], timer };
      this.#asking.set(address, a);
      try {
        this.#ask(address, id);
      } catch {
        this.#settle(address, 0);
        return Promise.resolve(0);
      }
    }
    const asking = a;
    return new Promise((resolve) => asking.waiters.push(resolve));
  }

  /** `address` told its flags (a hello, or the answer to ours). */
  heard(address: string, flags: number): void {
    this.#settle(address, flags);
  }

  /** Forgets every peer and answers the waiting with 0. */
  clear(): void {
    for (const address of [...this.#asking.keys()]) this.#settle(address, 0);
    this.#known.clear();
  }

  #settle(address: string, flags: number): void {
    this.#known.delete(address);
    if (this.#known.size >= this.#max) this.#known.delete(this.#known.keys().next().value!);
    this.#known.set(address, { flags, at: this.#now() });
    const a = this.#asking.get(address);
    if (a === undefined) return;
    this.#asking.delete(address);
    clearTimeout(a.timer);
    for (const w of a.waiters) w(flags);
  }
}
