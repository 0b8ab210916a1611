/**
 * The policy engine: the policy in force and the membership view, compiled (./compiled.ts) again
 * when either changes in a way rules can see, with counters that follow rules by name across
 * reloads, and `explain` (./explain.ts) against what is in force.
 *
 * A new policy is compiled at once (a document that does not compile leaves the one in force); a
 * membership change is compiled when a decision next needs the rules. Compiling costs the size of
 * the mesh (some 10 ms at 10,000 members), and a leader applies a view for every batch of joins,
 * often with no packet judged in between (its own control traffic passes unjudged): a burst of
 * views costs one compilation. Every decision still reads rules compiled against the latest view.
 * @module
 */

import type { Member, MembershipView } from "../members/member.ts";
import type { Direction, PolicyDocument } from "./schema.ts";
import type { FlowInfo } from "./packet.ts";
import { policyLabels } from "../members/labels.ts";
import type { RateCounts } from "./qos.ts";
import { CompiledPolicy, directionIndex } from "./compiled.ts";
import { explainFlow, type ExplainQuery, explainWith, type Explanation } from "./explain.ts";

function addCounts(a: RateCounts | undefined, b: RateCounts): RateCounts {
  if (a === undefined) return b;
  return {
    passedBytes: a.passedBytes + b.passedBytes,
    passedPackets: a.passedPackets + b.passedPackets,
    delayedBytes: a.delayedBytes + b.delayedBytes,
    delayedPackets: a.delayedPackets + b.delayedPackets,
    droppedBytes: a.droppedBytes + b.droppedBytes,
    droppedPackets: a.droppedPackets + b.droppedPackets,
  };
}

/** Options for a `PolicyEngine`. */
export interface PolicyEngineOptions {
  /** The initial policy (default: none, everything passes). */
  policy?: PolicyDocument | null;
  /** The initial membership view. */
  members?: MembershipView | null;
}

/**
 * Whether two member lists are the same to policies (names, addresses and labels, in order):
 * other changes need no recompilation. Records the lists share are the same by identity, so a
 * change of one member among 10,000 costs a walk of the list, not a copy of it.
 */
function samePolicyMembers(a: readonly Member[], b: readonly Member[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x === y) continue;
    if (
      x.name !== y.name || x.address !== y.address || (x.address6 ?? "") !== (y.address6 ?? "") ||
      !sameLabels(policyLabels(x), policyLabels(y))
    ) return false;
  }
  return true;
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>) {
  if (a === b) return true;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

/** The current policy and membership, compiled; hot-reloadable. */
export class PolicyEngine {
  #policy: PolicyDocument | null;
  #policyKey: string;
  #members: MembershipView | null;
  /** The members compiled against (or to compile against), a copy (a caller may reuse its list). */
  #compiledMembers: readonly Member[];
  #compiled: CompiledPolicy;
  // Whether `#members` changed what rules match since `#compiled` was made (compiled when read).
  #stale = false;
  #generation = 1;
  readonly #allowedTotals = new Map<string, number>();
  readonly #droppedTotals = new Map<string, number>();
  readonly #rateTotals = new Map<string, RateCounts>();

  /** An engine with an optional initial policy and membership. */
  constructor(opts: PolicyEngineOptions = {}) {
    this.#policy = opts.policy ?? null;
    this.#policyKey = JSON.stringify(this.#policy);
    this.#members = opts.members ?? null;
    this.#compiledMembers = [...this.#members?.members ?? []];
    this.#compiled = new CompiledPolicy(this.#policy, this.#members, this.#generation);
  }

  /**
   * The compiled policy in force (replaced, never mutated, on changes), compiled against the
   * latest membership first if that changed since.
   * @ignore internal: the filter's data path
   */
  get compiled(): CompiledPolicy {
    if (this.#stale) {
      this.#recompile(this.#policy, this.#members);
      this.#stale = false;
    }
    return this.#compiled;
  }

  /**
   * The policy as last compiled, without compiling a membership change: its rules, defaults and
   * counters are those of the policy in force (figures that need no member's address).
   * @ignore internal: the filter's figures
   */
  get lastCompiled(): CompiledPolicy {
    return this.#compiled;
  }

  /** Changes whenever what the rules match may have changed. */
  get generation(): number {
    // A membership change not compiled yet takes the next generation when it is.
    return this.#generation + (this.#stale ? 1 : 0);
  }

  /** The policy document in force, or null for none. */
  get policy(): PolicyDocument | null {
    return this.#policy;
  }

  /** The membership view in use. */
  get members(): MembershipView | null {
    return this.#members;
  }

  /**
   * Puts a validated policy in force (null: none, everything passes). Flows already tracked are
   * re-checked against it on their next packet. The same document again changes nothing. If
   * compiling throws (a document not from the validator), the previous policy stays in force.
   */
  setPolicy(policy: PolicyDocument | null): void {
    const key = JSON.stringify(policy);
    if (key === this.#policyKey) return;
    this.#recompile(policy, this.#members);
    this.#stale = false;
    this.#policy = policy;
    this.#policyKey = key;
  }

  /**
   * Binds the rules to a new membership view. When names, addresses or labels changed, the rules
   * are compiled against it (and tracked flows re-checked) once a decision next reads them: a
   * burst of views costs one compilation, not one each (see the module docs).
   */
  setMembers(view: MembershipView | null): void {
    const members = view?.members ?? [];
    this.#members = view;
    if (samePolicyMembers(this.#compiledMembers, members)) return;
    this.#compiledMembers = [...members];
    this.#stale = true;
  }

  #recompile(policy: PolicyDocument | null, view: MembershipView | null): void {
    const next = new CompiledPolicy(policy, view, this.#generation + 1);
    const old = this.#compiled;
    // Counters follow rules by name across reloads, so /metrics series stay monotonic.
    old.rules.forEach((r, i) => {
      if (old.buckets.rate[i] > 0) {
        this.#rateTotals.set(
          r.name,
          addCounts(this.#rateTotals.get(r.name), old.buckets.counts(i)),
        );
      }
      if (old.hits[i] === 0) return;
      const totals = old.allow[i] ? this.#allowedTotals : this.#droppedTotals;
      totals.set(r.name, (totals.get(r.name) ?? 0) + old.hits[i]);
    });
    // A rule keeps its bucket's tokens across a reload: no fresh burst for a membership change.
    const byName = new Map(old.rules.map((r, i) => [r.name, i]));
    next.rules.forEach((r, i) => {
      const from = byName.get(r.name);
      if (from !== undefined) next.buckets.carry(i, old.buckets, from);
    });
    this.#compiled = next;
    this.#generation++;
  }

  /**
   * The verdict for one flow in one direction, and the rule that gave it (null: the default).
   * @ignore internal: the filter's data path
   */
  decide(dir: Direction, flow: FlowInfo): { allow: boolean; rule: string | null } {
    const c = this.compiled;
    const r = c.match(flow);
    return { allow: c.verdict(directionIndex(dir), r), rule: r >= 0 ? c.rules[r].name : null };
  }

  /** Packets allowed and dropped per rule name, over every policy ever in force. */
  ruleCounters(): { allowed: Record<string, number>; dropped: Record<string, number> } {
    const allowed: Record<string, number> = Object.fromEntries(this.#allowedTotals);
    const dropped: Record<string, number> = Object.fromEntries(this.#droppedTotals);
    // The packets judged since the last compilation are counted in it (no need to compile).
    const c = this.#compiled;
    c.rules.forEach((r, i) => {
      const t = c.allow[i] ? allowed : dropped;
      t[r.name] = (t[r.name] ?? 0) + c.hits[i];
    });
    return { allowed, dropped };
  }

  /**
   * Bytes and packets passed and dropped under each rule's rate, by rule name, over every policy
   * ever in force (rules with a rate, now or before).
   */
  rateCounters(): Record<string, RateCounts> {
    const out: Record<string, RateCounts> = {};
    for (const [name, c] of this.#rateTotals) out[name] = { ...c };
    const c = this.#compiled;
    c.rules.forEach((r, i) => {
      if (c.buckets.rate[i] > 0) out[r.name] = addCounts(out[r.name], c.buckets.counts(i));
    });
    return out;
  }

  /**
   * Which rule (or default) decides a flow between two members or addresses, by the rules alone.
   * Throws an Error for unknown names or a tcp/udp query without a port.
   */
  explain(q: ExplainQuery): Explanation {
    return explainWith(this.compiled, q, explainFlow(q, this.#members));
  }
}
