/**
 * One subscriber's events: a bounded queue read as an async iterable. A subscriber that falls
 * behind loses the newest events (counted in `dropped`) rather than growing memory; breaking
 * out of `for await` (or `close()`) ends the subscription.
 * @module
 */

import { TopicPattern } from "./topics.ts";

/** An event as a subscriber gets it. */
export interface ServiceEvent {
  /** The topic it was published to. */
  topic: string;
  /** Its payload. */
  data: unknown;
  /** Unique per publisher node: `<publisher address>#<number>`. */
  id: string;
  /** The publishing node's name, when known (null: not a member in this node's view). */
  publisher: string | null;
  /** The publishing node's overlay address. */
  publisherAddress: string;
}

/** How far a subscription's announcement went: see {@link Subscription.announced}. */
export interface AnnounceResult {
  /** The other members it was announced to (those not known to be down). */
  nodes: number;
  /** Of those, the ones that acknowledged holding it. */
  acked: number;
  /** The ones that never did (names, or addresses when not members). */
  unacked: string[];
}

/** How a subscription is made. */
export interface SubscribeOptions {
  /**
   * The service group (a service name): with `one-per-service` publishing, one subscriber of each
   * group gets each event. Without one, the subscriber gets every matching event.
   */
  group?: string;
  /** Events held for a slow reader before new ones are dropped. Default 256. */
  maxQueue?: number;
}

/**
 * A subscriber's stream of events; see the module docs (the example of `@weft/weft/services`
 * follows one).
 */
export class Subscription implements AsyncIterable<ServiceEvent> {
  /** The topic pattern. */
  readonly pattern: TopicPattern;
  /** The service group, if any. */
  readonly group: string | undefined;
  /** Events dropped because the queue was full. */
  dropped = 0;
  /** Events handed to this subscriber's queue. */
  received = 0;
  /**
   * Resolves once the other members (those in the view and not known to be down when it was
   * made) acknowledged holding this subscription, or once the resends ran out (about 7.5 s; the
   * result names who never acknowledged). From then on, a publish that starts on an acknowledging
   * member reaches this subscriber. Never rejects.
   */
  announced: Promise<AnnounceResult> = Promise.resolve({ nodes: 0, acked: 0, unacked: [] });
  readonly #max: number;
  readonly #queue: ServiceEvent[] = [];
  readonly #waiters: ((r: IteratorResult<ServiceEvent>) => void)[] = [];
  readonly #onClose: (s: Subscription) => void;
  #closed = false;

  /** A subscription to `pattern`; `onClose` is told once when it ends. */
  constructor(pattern: TopicPattern, opts: SubscribeOptions, onClose: (s: Subscription) => void) {
    const max = opts.maxQueue ?? 256;
    if (!(Number.isInteger(max) && max >= 1 && max <= 1_000_000)) {
      throw new RangeError("maxQueue must be an integer from 1 to 1000000");
    }
    this.pattern = pattern;
    this.group = opts.group;
    this.#max = max;
    this.#onClose = onClose;
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Events waiting to be read. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Hands an event over; false when it was dropped (queue full, or closed). */
  push(ev: ServiceEvent): boolean {
    if (this.#closed) return false;
    const w = this.#waiters.shift();
    if (w !== undefined) {
      this.received++;
      w({ value: ev, done: false });
      return true;
    }
    if (this.#queue.length >= this.#max) {
      this.dropped++;
      return false;
    }
    this.received++;
    this.#queue.push(ev);
    return true;
  }

  /** The next event; done once closed and drained. */
  next(): Promise<IteratorResult<ServiceEvent>> {
    const ev = this.#queue.shift();
    if (ev !== undefined) return Promise.resolve({ value: ev, done: false });
    if (this.#closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Ends the subscription: readers waiting are done, queued events are dropped. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.length = 0;
    for (const w of this.#waiters.splice(0)) w({ value: undefined, done: true });
    this.#onClose(this);
  }

  /** Iterates the events; leaving the loop closes the subscription. */
  [Symbol.asyncIterator](): AsyncIterator<ServiceEvent> {
    return {
      next: () => this.next(),
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
