/**
 * A node's asking for news it was told of (a leader's notice of a higher version): a hello now,
 * and again, later each time, while nothing at all came since the latest ask; an answer that
 * brings part of it has the rest asked for at once. A hello or its answer lost costs a second or
 * two, not a whole hello interval.
 * @module
 */

/**
 * How long a node waits for news it asked for (a hello after a notice) before it asks again, ms:
 * doubled at each try, with jitter, {@link ASK_TRIES} times at most, and only while nothing at
 * all came since the latest ask. A hello or its answer lost (a leader's socket overflows when a
 * change has every member ask at once) costs a second or two, not a whole hello interval (10 s
 * and more in a large fleet).
 */
export const ASK_AGAIN_MS = 1000;

/** How many times a node asks again for news it was told of and did not get. */
export const ASK_TRIES = 4;

/** News a node asked for and does not hold yet: the versions, tries so far, the next one's timer. */
interface Ask {
  v: number;
  pv: number;
  /** The versions held when the node asked: any answer moves one of them. */
  fromV: number;
  fromPv: number;
  tries: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** What asking needs of the node. */
export interface AskAgainDeps {
  /** Says hello to the leader in use: the versions it carries ask for what is newer. */
  hello: () => void;
  /** The version of the view held. */
  version: () => number;
  /** The version of the policy held (0: none). */
  policyVersion: () => number;
  /** Whether asking may go on: false once the node stops or was removed. */
  live: () => boolean;
  /** The first wait before asking again, ms (default {@link ASK_AGAIN_MS}). */
  againMs?: number;
}

/** Asks for news of a view and a policy version until it comes. See the module docs. */
export class AskAgain {
  readonly #d: AskAgainDeps;
  readonly #againMs: number;
  // News asked for and not yet held: the versions, the tries so far, the timer of the next.
  #ask: Ask | null = null;

  /** Asks nothing until `askFor`. */
  constructor(deps: AskAgainDeps) {
    this.#d = deps;
    this.#againMs = deps.againMs ?? ASK_AGAIN_MS;
  }

  /** Whether news asked for is still awaited (another ask will follow if it does not come). */
  get asking(): boolean {
    return this.#ask !== null;
  }

  /**
   * Says hello for news of view `v` and policy `pv`, and again while they do not come. While the
   * hello of an earlier ask is unanswered (nothing came since it), no other goes: its answer
   * brings what the leader holds when it reads it, and each push a node behind drops would
   * otherwise have it ask again, the leader answering each with the same news.
   */
  askFor(v: number, pv: number): void {
    const ask = this.#ask;
    const fromV = this.#d.version();
    const fromPv = this.#d.policyVersion();
    if (ask && fromV === ask.fromV && fromPv === ask.fromPv) {
      ask.v = Math.max(ask.v, v);
      ask.pv = Math.max(ask.pv, pv);
      return;
    }
    this.#d.hello();
    if (ask) {
      // Asked again now: what counts as an answer is what comes after this hello.
      ask.v = Math.max(ask.v, v);
      ask.pv = Math.max(ask.pv, pv);
      ask.fromV = fromV;
      ask.fromPv = fromPv;
      return;
    }
    const next = (a: Ask) => {
      const ms = this.#againMs * 2 ** a.tries * (0.5 + Math.random());
      a.timer = setTimeout(() => {
        if (this.#ask !== a || !this.#d.live()) return;
        const held = this.#d.version();
        const heldPv = this.#d.policyVersion();
        // Something came (what it lacked was asked for then: `came`), all came, or it was asked
        // often enough: the asking ends.
        const moved = held > a.fromV || heldPv > a.fromPv;
        if (moved || (held >= a.v && heldPv >= a.pv) || ++a.tries > ASK_TRIES) {
          this.#ask = null;
          return;
        }
        this.#d.hello();
        next(a);
      }, ms);
    };
    next(this.#ask = { v, pv, fromV, fromPv, tries: 0, timer: undefined });
  }

  /**
   * A view, delta or policy was taken. When it is not all the news asked for (news told while
   * the hello was out, which said no hello of its own, came after the leader answered it), a
   * hello now asks for the rest: one per answer, not one per push.
   */
  came(): void {
    const ask = this.#ask;
    if (!ask) return;
    const held = this.#d.version();
    const heldPv = this.#d.policyVersion();
    if (held >= ask.v && heldPv >= ask.pv) return this.stop();
    if (held === ask.fromV && heldPv === ask.fromPv) return;
    ask.fromV = held;
    ask.fromPv = heldPv;
    this.#d.hello();
  }

  /** Stops asking: the next try's timer is cleared. */
  stop(): void {
    clearTimeout(this.#ask?.timer);
    this.#ask = null;
  }
}
