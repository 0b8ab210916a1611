/**
 * Views scoped by policy: with a policy in force, a member's view holds only the members it may
 * reach or be reached by (either direction, any port), every leader and every relay (relaying
 * keeps working), and itself; relays see every member (they carry traffic between any two). A
 * router counts as the prefixes it carries (an exit node as every address): a rule naming hosts
 * behind it (`to: { cidrs: [...] }`) makes it seen.
 * Without a policy (or one that allows every flow) every member sees every member.
 *
 * Members are put in groups by their signature: which side of which rule their labels, name and
 * addresses match, and whether they are a leader or a relay. Members of one group reach the same
 * members, so reachability is worked out per pair of groups (a handful), never per pair of
 * members, and again only when the policy changes or a member's signature is new.
 *
 * Reachability is a superset of what the packet path allows: the rules that match a pair are
 * walked in priority order; the first allow makes the pair reachable, a deny of every protocol
 * and port stops the walk (nothing after it can match), a narrower deny is passed over (some
 * flow may still get through); with no decision the defaults apply (both ends' defaults must
 * allow, as on the packet path). A member may thus see a peer whose every flow a mix of narrow
 * denies stops, never miss one it may reach.
 * @module
 */

import type { Member } from "../../members/member.ts";
import { Cidr } from "../../net/cidr.ts";
import type { PolicyDocument, PolicyRule, Selector } from "../../policy/schema.ts";
import { termMatchesMember } from "../../policy/selector.ts";
import { EXIT_PREFIXES } from "../../routes/prefixes.ts";

/** A group's id: members with the same signature share it. */
export type GroupId = number;

/** Whether a member relays for others (the leader granted it and it is willing) or leads. */
function always(m: Member): boolean {
  return m.role === "leader" || m.relay === true;
}

interface Group {
  id: GroupId;
  /** Members whose records placed them here. */
  size: number;
  /** Leaders and relays: seen by every member, and see every member. */
  always: boolean;
  /** Per rule (in priority order): whether its `from`, and its `to`, match these members. */
  from: boolean[];
  to: boolean[];
  /** Per segment: whether these members are in it (co-members carry its VXLAN to each other). */
  segs: boolean[];
  /** The groups (ids) these members see, this one included when they see each other. */
  sees: Set<GroupId>;
}

/** The policy's rules in evaluation order, CIDR terms parsed once, and its defaults. */
interface Compiled {
  rules: { rule: PolicyRule; from: Cidr[]; to: Cidr[] }[];
  /** The segments' selectors. */
  segments: Selector[];
  /** A pair no rule decides may talk (the sender's outbound and the receiver's inbound allow). */
  defaultAllows: boolean;
}

function cidrsOf(sel: Selector): Cidr[] {
  const out: Cidr[] = [];
  for (const t of sel) if (t.kind === "cidrs") { for (const c of t.cidrs) out.push(Cidr.parse(c)); }
  return out;
}

function compile(doc: PolicyDocument): Compiled {
  const rules = doc.policies
    .map((rule, i) => ({ rule, i }))
    .sort((a, b) => a.rule.priority - b.rule.priority || a.i - b.i)
    .map(({ rule }) => ({ rule, from: cidrsOf(rule.from), to: cidrsOf(rule.to) }));
  const outbound = doc.defaults.outbound ?? "allow";
  const inbound = doc.defaults.inbound ?? (doc.policies.length > 0 ? "deny" : "allow");
  return {
    rules,
    segments: (doc.segments ?? []).map((g) => g.select),
    defaultAllows: outbound === "allow" && inbound === "allow",
  };
}

function sideMatches(sel: Selector, cidrs: Cidr[], m: Member): boolean {
  for (const t of sel) if (t.kind !== "cidrs" && termMatchesMember(t, m)) return true;
  if (cidrs.length === 0) return false;
  for (const c of cidrs) {
    if (c.containsText(m.address) || (m.address6 !== undefined && c.containsText(m.address6))) {
      return true;
    }
  }
  // A router stands for the prefixes it carries (an exit node for every address): a member that
  // may reach a host behind it must see it.
  for (const p of carried(m)) {
    for (const c of cidrs) if (c.family === p.family && c.overlaps(p)) return true;
  }
  return false;
}

function carried(m: Member): Cidr[] {
  const list = [...(m.routes ?? []), ...(m.exitNode ? EXIT_PREFIXES : [])];
  return list.length ? list.map((p) => Cidr.parse(p)) : [];
}

/** Whether a rule stops every flow it matches (deny, any protocol, every port). */
function denyAll(r: PolicyRule): boolean {
  return r.action === "deny" && r.proto === "any" && r.ports.length === 0;
}

/** Who sees whom under a policy, by groups of members. See the module docs. */
export class Scope {
  #policy: Compiled | null = null;
  readonly #groups = new Map<string, Group>();
  readonly #byId = new Map<GroupId, Group>();
  readonly #groupOf = new Map<string, Group>();
  #next = 1;

  /**
   * Puts `doc` in force (null: no policy, every member sees every member) and places `members`
   * again from scratch.
   */
  reset(doc: PolicyDocument | null, members: Iterable<Member>): void {
    this.#policy = doc && (doc.policies.length > 0 || doc.defaults.inbound === "deny" ||
        doc.defaults.outbound === "deny")
      ? compile(doc)
      : null;
    this.#groups.clear();
    this.#byId.clear();
    this.#groupOf.clear();
    for (const m of members) this.place(m);
  }

  /** Whether a policy scopes the views (false: every member sees every member). */
  get scoped(): boolean {
    return this.#policy !== null;
  }

  /** How many groups there are (members with distinct signatures). */
  get groupCount(): number {
    return this.#groups.size;
  }

  /**
   * Places a member by its record now (new, or its labels, name or role changed); returns its
   * group and the one it was in before (undefined: it was not placed).
   */
  place(m: Member): { group: GroupId; was: GroupId | undefined } {
    const old = this.#groupOf.get(m.publicKey);
    const g = this.#groupFor(m);
    if (old !== g) {
      if (old) this.#leave(old);
      g.size++;
      this.#groupOf.set(m.publicKey, g);
    }
    return { group: g.id, was: old?.id };
  }

  /** Forgets a member (removed from the mesh); returns the group it was in. */
  drop(key: string): GroupId | undefined {
    const g = this.#groupOf.get(key);
    if (!g) return undefined;
    this.#groupOf.delete(key);
    this.#leave(g);
    return g.id;
  }

  /** The group of the member with `key` (undefined: not placed). */
  groupOf(key: string): GroupId | undefined {
    return this.#groupOf.get(key)?.id;
  }

  /** Whether members of group `viewer` see members of group `seen` (each other, when equal). */
  sees(viewer: GroupId, seen: GroupId): boolean {
    if (!this.#policy) return true;
    const v = this.#byId.get(viewer);
    const s = this.#byId.get(seen);
    if (!v || !s) return false;
    return v.always || s.always || v.sees.has(seen);
  }

  /** Whether the members of group `g` see each other (every viewer sees itself regardless). */
  seesOwn(g: GroupId): boolean {
    return this.sees(g, g);
  }

  /** The groups in use now. */
  groups(): GroupId[] {
    return [...this.#byId.keys()];
  }

  #leave(g: Group): void {
    if (--g.size > 0) return;
    // An empty group goes: signatures come and go with labels, and the groups must stay few.
    for (const [sig, x] of this.#groups) if (x === g) this.#groups.delete(sig);
    this.#byId.delete(g.id);
    for (const o of this.#byId.values()) o.sees.delete(g.id);
  }

  #groupFor(m: Member): Group {
    const p = this.#policy;
    const isAlways = always(m);
    const from: boolean[] = [];
    const to: boolean[] = [];
    const segs: boolean[] = [];
    let sig = isAlways ? "A" : "-";
    if (p && !isAlways) {
      for (const r of p.rules) {
        const f = sideMatches(r.rule.from, r.from, m);
        const t = sideMatches(r.rule.to, r.to, m);
        from.push(f);
        to.push(t);
        sig += (f ? 1 : 0) + (t ? 2 : 0);
      }
      sig += "/";
      for (const sel of p.segments) {
        const inSeg = sideMatches(sel, [], m);
        segs.push(inSeg);
        sig += inSeg ? 1 : 0;
      }
    }
    const found = this.#groups.get(sig);
    if (found) return found;
    const g: Group = {
      id: this.#next++,
      size: 0,
      always: isAlways,
      from,
      to,
      segs,
      sees: new Set(),
    };
    this.#groups.set(sig, g);
    this.#byId.set(g.id, g);
    // A new signature: its reach to and from every group there is (once per group, not member).
    if (p && !isAlways) {
      for (const o of this.#byId.values()) {
        if (o.always) continue;
        if (this.#reaches(g, o) || this.#reaches(o, g)) {
          g.sees.add(o.id);
          o.sees.add(g.id);
        }
      }
    }
    return g;
  }

  /** Whether some flow from members of `a` to members of `b` may pass (see the module docs). */
  #reaches(a: Group, b: Group): boolean {
    const p = this.#policy!;
    // Members of one segment carry its frames to each other, whatever the rules say.
    for (let i = 0; i < a.segs.length; i++) if (a.segs[i] && b.segs[i]) return true;
    for (let i = 0; i < p.rules.length; i++) {
      if (!a.from[i] || !b.to[i]) continue;
      const r = p.rules[i].rule;
      if (r.action === "allow") return true;
      if (denyAll(r)) return false;
    }
    return p.defaultAllows;
  }
}
