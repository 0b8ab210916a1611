/**
 * The members that use this leader (said hello within {@link USER_WINDOW_MS}, or a few hello
 * intervals): the ones it pushes changes to. With several leaders on one store each member uses
 * one of them. Also the hello interval this leader asks of its members for the fleet's size, and
 * which member was last asked for which.
 * @module
 */

import type { Member, MembershipView } from "../../members/member.ts";
import { DEFAULT_HELLO_MS, helloEveryOf, pacedHelloMs } from "../sync/protocol.ts";

/**
 * How long a member counts as using this leader after its last hello: a node says hello every
 * 3 s, so a few missed; past it, the member moved to another leader (or is gone) and this one
 * stops pushing to it.
 */
export const USER_WINDOW_MS = 30_000;

/** What the users work with. */
export interface LeaderUsersDeps {
  /** How many members the mesh has now (the fleet's size paces the hellos). */
  size: () => number;
  /** The most hellos a second the members are paced to (default: the protocol's). */
  hellosPerSecond?: number;
  /** Monotonic milliseconds. */
  now: () => number;
  /** Asks the member at overlay address `to` for hellos every `everyMs` (a `pace` message). */
  askPace: (to: string, everyMs: number) => void;
  /** A member was asked for hellos every `everyMs` from now on (its liveness expects them so). */
  paced?: (publicKey: string, everyMs: number) => void;
}

/** The members that use this leader, and their hello pacing. See the module docs. */
export class LeaderUsers {
  readonly #deps: LeaderUsersDeps;
  // When each member (by key) last said hello to this leader, in monotonic ms.
  readonly #users = new Map<string, number>();
  // The hello interval each member was last asked for (members paced: a large fleet).
  readonly #paced = new Map<string, number>();

  /** No member uses this leader yet. */
  constructor(deps: LeaderUsersDeps) {
    this.#deps = deps;
  }

  /** Member `key` said hello: it uses this leader now (held to the members: bounded). */
  heard(key: string): void {
    this.#users.delete(key);
    this.#users.set(key, this.#deps.now());
  }

  /** Counts the online members of `members` as users as of now (a single leader just started). */
  seed(members: Member[]): void {
    const t = this.#deps.now();
    for (const m of members) if (!m.offline) this.#users.set(m.publicKey, t);
  }

  /** Member `key` is gone: forgotten. */
  forget(key: string): void {
    this.#users.delete(key);
    this.#paced.delete(key);
  }

  /**
   * The members this leader pushes changes to: those that use it (said hello lately), online and
   * not leaders (they follow the store). A member that joined but has not said hello yet is not
   * pushed to (it has no session yet: a push would have the leader start a handshake with every
   * joiner; its first hello gets its view), nor one that went offline or silent (a push would
   * retry handshakes with a member that is gone). See the service's `start` for a leader just
   * started.
   */
  served(v: MembershipView): Member[] {
    const since = this.#deps.now() - this.#window();
    return v.members.filter((m) =>
      m.role !== "leader" && !m.offline && (this.#users.get(m.publicKey) ?? -Infinity) >= since
    );
  }

  /** Whether the member with `publicKey` uses this leader (said hello lately). */
  serves(publicKey: string): boolean {
    return (this.#users.get(publicKey) ?? -Infinity) >= this.#deps.now() - this.#window();
  }

  /** The hello interval this leader asks of its members now, ms ({@link pacedHelloMs}). */
  helloInterval(): number {
    return pacedHelloMs(this.#deps.size(), this.#deps.hellosPerSecond);
  }

  // A member counts as a user for a few hello intervals after its last hello.
  #window(): number {
    return Math.max(USER_WINDOW_MS, 3 * this.helloInterval());
  }

  /**
   * Asks a member for the hello interval of the fleet's size when its hello says another: one
   * slower than it should be is told each hello (it may have restarted), one faster (the fleet
   * shrank) once. A node that does not say its interval cannot be paced.
   */
  pace(member: Member, hi: unknown, from: string): void {
    const said = helloEveryOf(hi);
    if (said === undefined) return;
    const want = this.helloInterval();
    if (said === want) return;
    const told = this.#paced.get(member.publicKey);
    // A small fleet does not pace: members keep their own interval, unless told otherwise before.
    if (said < want ? want === DEFAULT_HELLO_MS && told === undefined : told === want) return;
    this.#paced.set(member.publicKey, want);
    this.#deps.askPace(from, want);
    // Its next hello comes an interval from now, not the one its last hello said.
    this.#deps.paced?.(member.publicKey, Math.max(said, want));
  }
}
