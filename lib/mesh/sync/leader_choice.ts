/**
 * Which of the mesh's leaders a node syncs with (./node_sync.ts), "the leader in use": the one
 * from its file or its join while the view lists it as a leader online, else the first leader
 * online. Every hello goes with a probe of the leader in use; a leader that neither answered the
 * probe nor sent anything between two hellos missed that one, and after {@link MISSED_HELLOS}
 * missed in a row the node moves to another leader (those that answered their latest probe
 * first). The other leaders are probed every {@link OTHERS_PROBED_EVERY} hellos, so the status
 * says whether each answers. These probes are also the node's health samples of its leaders
 * (`probed`): nothing else probes them.
 *
 * A leader cut off from its shared store answers probes with `stale`: when the leader in use
 * says so, the other leaders are probed at once, and at the next hello the node moves to one
 * whose latest answer was current. With none it stays and says so once: two stale leaders are
 * never taken as current, and a node does not go round them.
 * @module
 */

import type { Logger } from "../../log/logger.ts";
import { acrossGenerations } from "../../health/prober.ts";
import type { Member, MembershipView } from "../../members/member.ts";
import type { NodeFile } from "../state/state.ts";
import type { NodeStatus } from "../../status/status.ts";

/**
 * Hellos in a row that the leader in use may leave unanswered (no probe answer, no message)
 * before the node moves to another leader.
 */
export const MISSED_HELLOS = 2;

/** The leaders not in use are probed once every this many hellos. */
export const OTHERS_PROBED_EVERY = 10;

/** The longest a probe of a leader waits for its answer, ms (less when hellos are closer). */
const PROBE_TIMEOUT_MS = 2000;

/** The leader as a node knows it. */
export type LeaderInfo = NodeFile["leader"];

/** What the choice of a leader works with (the first four: the node's sync's deps). */
export interface LeaderChoiceDeps {
  /**
   * Probes a leader's overlay address on the control channel: the round trip in ms, null when
   * no answer came within `timeoutMs`, or NaN when answered but not timed.
   */
  probe: (address: string, timeoutMs: number) => Promise<number | null>;
  /**
   * A leader's session and path as one value (compared with `!==`): a probe during which it
   * changed waited for a handshake or a new path, so it is answered with no RTT (NaN) rather
   * than the setup's time. Absent: every answer is timed.
   */
  generation?: (publicKey: string) => unknown;
  /**
   * Hears every probe of a leader settle (its key, the RTT or null): the node takes them as that
   * leader's health samples rather than probing it again. Absent: not told.
   */
  probed?: (publicKey: string, rttMs: number | null) => void;
  /**
   * Whether the latest probe answer from the leader at `address` said its store is unreachable
   * (absent: never; leaders that do not say it are current).
   */
  stale?: (address: string) => boolean;
  /** The logger. */
  logger: Logger;
  /** This node's public key (never its own leader). */
  publicKey: string;
  /** The view held (the leaders' names, and the names of members that no longer lead). */
  view: () => MembershipView;
  /** Whether the sync closed: probe answers after it are not taken. */
  closed: () => boolean;
  /** The leader in use changed (the sync saves its file). */
  changed: () => void;
}

/** The leader in use and what the node knows of the others. See the module docs. */
export class LeaderChoice {
  readonly #d: LeaderChoiceDeps;
  #leader: LeaderInfo;
  #since = Date.now();
  // The leaders of the view held (this node left out), by key, and their overlay addresses.
  #leaders = new Map<string, Member>();
  #addresses = new Set<string>();
  // The answer of each leader's latest probe, by key.
  readonly #answers = new Map<string, boolean>();
  // Whether each leader's latest answer said its store is unreachable, by key.
  readonly #stale = new Map<string, boolean>();
  // Said once while the leader in use is stale and no current one is known.
  #staleSaid = false;
  // The leader in use answered (a probe, any message) since the last hello of the interval.
  #heard = false;
  #missed = 0;
  #hellos = 0;
  // The RTT of the latest probe of the leader in use, ms (null: lost, or none yet).
  #rtt: number | null = null;
  // Said once while the only leader known does not answer.
  #aloneSaid = false;

  /** `saved`: the leader from the node's file or its join, in use while the view has it online. */
  constructor(deps: LeaderChoiceDeps, saved: LeaderInfo) {
    this.#d = deps;
    this.#leader = saved;
    this.know(deps.view());
    // The leader from the file or the join while the view has it as a leader online; else the
    // first one online (its own may have stopped being one while this node was down).
    const known = this.#leaders.get(saved.publicKey);
    if (!known || known.offline) {
      const first = this.#candidates(null)[0];
      if (first) {
        deps.logger.info(
          `now syncing with leader ${first.name}: ${
            this.#nameOf(saved.publicKey) || saved.address
          } is not a leader online in the saved view`,
          { address: first.address },
        );
        this.#leader = leaderInfo(first);
      }
    }
  }

  /** The leader in use now. */
  get leader(): LeaderInfo {
    return this.#leader;
  }

  /** The RTT of the latest answered probe of the leader in use, ms (null: lost, none, or untimed). */
  get rtt(): number | null {
    return this.#rtt;
  }

  /** Whether `address` is a leader's overlay address in the view held (or the leader in use). */
  isLeader(address: string): boolean {
    return address === this.#leader.address || this.#addresses.has(address);
  }

  /** A leader's message came from `address`: the leader in use answered, if it is that one. */
  heardFrom(address: string): void {
    if (address === this.#leader.address) this.#heard = true;
  }

  /** The leader in use and every leader known (in the view's order): `/status` fields. */
  status(): Required<Pick<NodeStatus, "leader" | "leaders">> {
    const l = this.#leader;
    return {
      leader: {
        name: this.#nameOf(l.publicKey),
        address: l.address,
        publicKey: l.publicKey,
        since: new Date(this.#since).toISOString(),
      },
      leaders: [...this.#leaders.values()].map((m) => ({
        name: m.name,
        address: m.address,
        publicKey: m.publicKey,
        inUse: m.publicKey === l.publicKey,
        answers: this.#answers.get(m.publicKey) ?? null,
        offline: m.offline === true,
        ...(this.#stale.get(m.publicKey) ? { storeUnreachable: true as const } : {}),
      })),
    };
  }

  /**
   * The hello of the interval: first counts whether the leader in use answered since the last
   * one, and moves to another leader after {@link MISSED_HELLOS} missed in a row (or from a stale
   * one); then `hello` (to the leader in use) and the probes, every `intervalMs`.
   */
  tick(hello: () => void, intervalMs: number): void {
    if (this.#heard) {
      this.#missed = 0;
      this.#aloneSaid = false;
    } else this.#missed++;
    this.#heard = false;
    if (this.#missed >= MISSED_HELLOS) this.#moveOn();
    else if (this.#stale.get(this.#leader.publicKey)) this.#leaveStale();
    hello();
    this.probe(++this.#hellos % OTHERS_PROBED_EVERY === 0, intervalMs);
  }

  /** Probes the leader in use and, with `all`, every other leader known too (hellos `intervalMs` apart). */
  probe(all: boolean, intervalMs: number): void {
    const timeout = Math.min(PROBE_TIMEOUT_MS, intervalMs);
    const inUse = this.#leader;
    const targets = [{ publicKey: inUse.publicKey, address: inUse.address }];
    if (all) {
      for (const m of this.#leaders.values()) {
        if (m.publicKey !== inUse.publicKey) targets.push(m);
      }
    }
    this.#probe(targets, timeout);
  }

  /** Takes the leaders of `v` (this node left out). */
  know(v: MembershipView): void {
    const leaders = new Map<string, Member>();
    for (const m of v.members) {
      if (m.role === "leader" && m.publicKey !== this.#d.publicKey) leaders.set(m.publicKey, m);
    }
    this.#leaders = leaders;
    this.#addresses = new Set([...leaders.values()].map((m) => m.address));
    for (const key of [...this.#answers.keys()]) {
      if (!leaders.has(key)) this.#answers.delete(key);
    }
    for (const key of [...this.#stale.keys()]) {
      if (!leaders.has(key)) this.#stale.delete(key);
    }
  }

  /**
   * After {@link know} of a view applied: the leader in use's record from it (it may have moved:
   * a new address or endpoints), or, no longer a leader online, another one (unless `removed`:
   * this node is no member).
   */
  follow(removed: boolean): void {
    const inUse = this.#leaders.get(this.#leader.publicKey);
    if (inUse && !inUse.offline) {
      this.#leader = leaderInfo(inUse);
    } else if (!removed) {
      // No longer a leader, gone from the view, or stopped on purpose: another one, if any.
      const next = this.#candidates(this.#leader.publicKey)[0];
      const old = this.#nameOf(this.#leader.publicKey) || this.#leader.address;
      if (next) this.#use(next, `${old} ${inUse ? "stopped (offline)" : "is no longer a leader"}`);
    }
  }

  /** Probes each of `targets`, keeping whether it answered and whether it said it is stale. */
  #probe(targets: { publicKey: string; address: string }[], timeout: number): void {
    const generation = this.#d.generation;
    for (const { publicKey, address } of targets) {
      const before = generation?.(publicKey);
      this.#d.probe(address, timeout).then((answered) => {
        if (this.#d.closed()) return;
        const rtt = generation
          ? acrossGenerations(answered, before, generation(publicKey))
          : answered;
        this.#d.probed?.(publicKey, rtt);
        this.#answers.set(publicKey, rtt !== null);
        const wasStale = this.#stale.get(publicKey) === true;
        if (rtt !== null) this.#stale.set(publicKey, this.#d.stale?.(address) ?? false);
        if (address !== this.#leader.address) return;
        // The next hello carries it: the leader judges this node's health by it. An answer not
        // timed (NaN) carries none: the leader takes the hello as heard, with no RTT.
        this.#rtt = rtt !== null && Number.isNaN(rtt) ? null : rtt;
        if (rtt !== null) this.#heard = true;
        if (!this.#stale.get(publicKey)) this.#staleSaid = false;
        else if (!wasStale) {
          // Which of the others reach their store is asked now, for the next hello's choice.
          const others = [...this.#leaders.values()].filter((m) => m.publicKey !== publicKey);
          this.#probe(others, timeout);
        }
      }).catch(() => {});
    }
  }

  /**
   * The leader in use said its store is unreachable: moves to a leader whose latest answer was
   * current, if any; else stays (says so once), keeping the view held.
   */
  #leaveStale(): void {
    const old = this.#leader;
    const next = this.#candidates(old.publicKey)
      .find((m) => this.#answers.get(m.publicKey) === true && !this.#stale.get(m.publicKey));
    const name = this.#nameOf(old.publicKey) || old.address;
    if (next) return this.#use(next, `${name} cannot reach its store (its view may be old)`);
    if (this.#staleSaid) return;
    this.#staleSaid = true;
    this.#d.logger.warn(
      "the leader cannot reach its store and no other leader that does answers: staying with " +
        "it, the view held is kept",
      { leader: name },
    );
  }

  /** The leader in use stopped answering: moves to the best other leader online, if any. */
  #moveOn(): void {
    const old = this.#leader;
    const next = this.#candidates(old.publicKey)[0];
    if (!next) {
      if (!this.#aloneSaid) {
        this.#aloneSaid = true;
        this.#d.logger.warn(
          "the leader stopped answering and no other leader is known: still trying it",
          { leader: this.#nameOf(old.publicKey) || old.address, missed: this.#missed },
        );
      }
      return;
    }
    this.#use(next, `${this.#nameOf(old.publicKey) || old.address} stopped answering`);
  }

  /** Syncs with `m` from now on; says so, with why, in one line. */
  #use(m: Member, why: string): void {
    this.#leader = leaderInfo(m);
    this.#since = Date.now();
    this.#rtt = null;
    this.#missed = 0;
    this.#heard = false;
    this.#aloneSaid = false;
    this.#staleSaid = false;
    this.#d.logger.info(`now syncing with leader ${m.name}: ${why}`, { address: m.address });
    this.#d.changed();
  }

  /**
   * The leaders online a node may move to, `except` left out: those that answered their latest
   * probe first, then those not probed yet, then the silent ones; each group in the view's order
   * from just after `except`, so that moving on goes round them all.
   */
  #candidates(except: string | null): Member[] {
    const all = [...this.#leaders.values()];
    const at = except === null ? -1 : all.findIndex((m) => m.publicKey === except);
    const rotated = [...all.slice(at + 1), ...all.slice(0, Math.max(at, 0))]
      .filter((m) => !m.offline && m.publicKey !== except);
    // Current answers first, then not probed yet, then answers of a stale view, then silence.
    const rank = (m: Member) => {
      const a = this.#answers.get(m.publicKey);
      if (a === true) return this.#stale.get(m.publicKey) ? 2 : 0;
      return a === undefined ? 1 : 3;
    };
    return rotated.sort((a, b) => rank(a) - rank(b));
  }

  #nameOf(publicKey: string): string {
    return this.#leaders.get(publicKey)?.name ??
      this.#d.view().members.find((m) => m.publicKey === publicKey)?.name ?? "";
  }
}

/** A leader's record as the sync keeps it (and the node's file saves it). */
function leaderInfo(m: Member): LeaderInfo {
  return { publicKey: m.publicKey, address: m.address, endpoints: m.endpoints };
}
