/**
 * The leader's answers to hellos, paced. A member that joins (or falls far behind) is answered
 * with its whole view: hundreds of datagrams in a mesh of thousands. Sent at once, a few such
 * answers in one turn of the event loop overflow the control stack's queue (the parts lost, the
 * member asks again 3 s later and is sent its whole view again: the leader's work grows with
 * itself) and hold the loop for tens of milliseconds (joins, byes and the API wait). So a large
 * answer joins a queue sent a slice per turn (a few milliseconds' worth), in order of arrival,
 * and a member with an answer under way is not sent another until that one is out: its next
 * hello, after it, asks for what changed meanwhile (a delta). Small answers (deltas) go at once.
 *
 * Pushes (a change told to every member served, a datagram or a few each) are bulk traffic too:
 * at 10,000 members one push is 10,000 datagrams to seal, which held the loop for a few hundred
 * milliseconds, twenty times a second during a burst of joins, while `weft node list`, `/status`,
 * byes and hellos waited behind it. So a push joins a queue of its own, drained ahead of the whole
 * views in the same paced turns (half of each turn while answers wait: a leader slower than its
 * changes pushes back to back), and the caller does not make the next push before this one is
 * out ({@link AnswerPacer.whenPushed}): pushes coalesce to the rate the leader can seal them, and
 * every turn leaves the loop to the API, the byes and the hellos between slices.
 *
 * A bye is answered once its change is written; the push that tells every member follows: while
 * one is under way ({@link AnswerPacerOptions.urgent}), pushes take whole turns and no view part
 * goes out until they are (views otherwise take half of each turn, and at 10,000 members a push
 * spread over half turns between the poller's rounds took seconds, while members without a
 * session to the node that left still called it).
 * @module
 */

/** Sends bytes encoded once to a member's overlay address. */
export type AnswerSend = (address: string, bytes: Uint8Array) => void;

/** Answers of at most this many datagrams are sent at once. */
export const SMALL_ANSWER = 8;
/** Datagrams sent per turn of the event loop, at most. */
export const ANSWER_SLICE = 2048;
/** Milliseconds spent sending per turn, at most (as much again goes to sealing them). */
export const ANSWER_TURN_MS = 8;

/** Options of {@link AnswerPacer}. */
export interface AnswerPacerOptions {
  /** Datagrams a turn at most (default {@link ANSWER_SLICE}). */
  slice?: number;
  /** Answers of at most this many datagrams are sent at once (default {@link SMALL_ANSWER}). */
  small?: number;
  /** Milliseconds a turn at most (default {@link ANSWER_TURN_MS}). */
  turnMs?: number;
  /** Whether a bye's change waits to be pushed: pushes then take whole turns. */
  urgent?: () => boolean;
}

/** How many turns' worth a turn is while a bye's change waits to be pushed. */
export const URGENT_TURNS = 4;

interface Pending {
  address: string;
  parts: Uint8Array[];
  next: number;
}

/** Sends answers to hellos, large ones a slice per turn. See the module docs. */
export class AnswerPacer {
  readonly #send: AnswerSend;
  readonly #slice: number;
  readonly #small: number;
  readonly #turnMs: number;
  readonly #urgent: () => boolean;
  // By member key, in order of arrival (a Map iterates in insertion order): the answers that go
  // on with a snapshot a member is fetching, then the others.
  readonly #next = new Map<string, Pending>();
  readonly #queue = new Map<string, Pending>();
  // Pushed datagrams (address, bytes, address, bytes...), sent before the answers; `#pushNext`
  // is the next address's index.
  #pushed: (string | Uint8Array)[] = [];
  #pushNext = 0;
  readonly #whenPushed: (() => void)[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  /** Answers not sent because one to the same member was under way. */
  skipped = 0;

  /**
   * A pacer over `send`; `slice`: datagrams a turn at most, `turnMs`: milliseconds a turn at
   * most, `small`: answers of at most this many datagrams are sent at once.
   */
  constructor(send: AnswerSend, opts: AnswerPacerOptions = {}) {
    this.#send = send;
    this.#slice = opts.slice ?? ANSWER_SLICE;
    this.#small = opts.small ?? SMALL_ANSWER;
    this.#turnMs = opts.turnMs ?? ANSWER_TURN_MS;
    this.#urgent = opts.urgent ?? (() => false);
  }

  /** Members with an answer under way. */
  get pending(): number {
    return this.#queue.size + this.#next.size;
  }

  /** Datagrams of pushes not sent yet. */
  get pushing(): number {
    return (this.#pushed.length - this.#pushNext) / 2;
  }

  /**
   * Queues a push: `sends` (address, bytes, address, bytes...), sent in order ahead of whole
   * views, a slice per turn.
   */
  push(sends: (string | Uint8Array)[]): void {
    if (this.#closed || sends.length === 0) return;
    if (this.#pushNext === this.#pushed.length) {
      this.#pushed = sends;
      this.#pushNext = 0;
    } else {
      for (const x of sends) this.#pushed.push(x);
    }
    this.#schedule();
  }

  /** Calls `fn` once every push queued is sent (now, when none is). */
  whenPushed(fn: () => void): void {
    if (this.pushing === 0) return fn();
    this.#whenPushed.push(fn);
  }

  /** Whether member `key` has an answer under way. */
  busy(key: string): boolean {
    return this.#queue.has(key) || this.#next.has(key);
  }

  /**
   * Answers member `key` at `address` with `parts` (nothing when it has an answer under way).
   * `goesOn`: the next window of a snapshot the member is fetching, sent ahead of answers that
   * start one, so members finish the views they started (while the leader keeps their snapshot)
   * rather than all crawling through theirs together.
   */
  answer(key: string, address: string, parts: Uint8Array[], goesOn = false): void {
    if (this.#closed || parts.length === 0) return;
    if (this.busy(key)) {
      this.skipped++;
      return;
    }
    if (parts.length <= this.#small) {
      for (const p of parts) this.#send(address, p);
      return;
    }
    (goesOn ? this.#next : this.#queue).set(key, { address, parts, next: 0 });
    this.#schedule();
  }

  /**
   * Sends member `key` `parts` after the answer under way, if any (pieces of a shared view it
   * asked for: small, and never skipped for an answer that is not theirs); else as {@link answer}.
   */
  more(key: string, address: string, parts: Uint8Array[]): void {
    if (this.#closed || parts.length === 0) return;
    const p = this.#next.get(key) ?? this.#queue.get(key);
    if (!p) return this.answer(key, address, parts);
    // Its parts may be an encoding shared by a group: extended as a copy.
    p.parts = [...p.parts, ...parts];
  }

  /** Forgets member `key`'s answer under way (it left). */
  forget(key: string): void {
    this.#queue.delete(key);
    this.#next.delete(key);
  }

  /** Stops; what is queued is dropped. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue.clear();
    this.#next.clear();
    this.#pushed = [];
    this.#pushNext = 0;
    this.#whenPushed.length = 0;
  }

  #schedule(): void {
    this.#timer ??= setTimeout(this.#run, 0);
  }

  readonly #run = (): void => {
    this.#timer = undefined;
    const pushed = this.#pushed;
    // Pushes come first, but with answers waiting they get half the turn: back-to-back pushes
    // (a leader slower than its changes) would otherwise starve every whole view. While a bye's
    // answer waits for them, they get the whole turn, and the views none of it until they are out;
    // and the turn is URGENT_TURNS times as long: each turn waits for the poller's round between
    // (hundreds of ms under load), and a push is a few datagrams a member.
    const urgent = this.#pushNext < pushed.length && this.#urgent();
    let budget = urgent ? this.#slice * URGENT_TURNS : this.#slice;
    const start = performance.now();
    const until = start + (urgent ? this.#turnMs * URGENT_TURNS : this.#turnMs);
    const waiting = this.pending > 0 && !urgent;
    let pushBudget = waiting ? Math.ceil(budget / 2) : budget;
    const pushUntil = waiting ? start + this.#turnMs / 2 : until;
    while (pushBudget > 0 && this.#pushNext < pushed.length) {
      this.#send(pushed[this.#pushNext] as string, pushed[this.#pushNext + 1] as Uint8Array);
      this.#pushNext += 2;
      budget--;
      if (--pushBudget % 16 === 0 && performance.now() > pushUntil) pushBudget = 0;
    }
    if (!waiting && performance.now() > until) budget = 0;
    if (urgent && this.#pushNext < pushed.length) budget = 0;
    if (this.#pushNext >= pushed.length && pushed.length > 0) {
      this.#pushed = [];
      this.#pushNext = 0;
      for (const fn of this.#whenPushed.splice(0)) fn();
    }
    for (const queue of [this.#next, this.#queue]) {
      for (const [key, p] of queue) {
        if (budget === 0) break;
        while (budget > 0 && p.next < p.parts.length) {
          this.#send(p.address, p.parts[p.next++]);
          // The clock is read every 16 datagrams: a turn ends once its time is spent.
          if (--budget % 16 === 0 && performance.now() > until) budget = 0;
        }
        if (p.next >= p.parts.length) queue.delete(key);
        if (budget === 0) break;
      }
    }
    if (this.pending > 0 || this.pushing > 0) this.#schedule();
  };
}
