/**
 * Who subscribes to what, across the mesh: this node's subscriptions, and the other nodes'
 * as they announce them (pattern and group pairs). From it, a publish is planned: which nodes
 * get an event, and for `one-per-service` which groups each node serves; and on a node, which
 * of its subscribers get an event that arrived.
 *
 * `one-per-service`: for each group with a matching subscriber anywhere, one node is chosen (in
 * turn, one step per event and group), and on that node one of the group's matching
 * subscribers (in turn). Subscribers without a group get every event, in every mode.
 * @module
 */

import type { Subscription } from "./subscription.ts";
import { TopicPattern } from "./topics.ts";
import { MAX_SUBSCRIPTION_ENTRIES, type SubscriptionEntry, type WireMode } from "./wire.ts";

/** What one node is to do with an event. */
export interface NodePlan {
  /** `one-per-service`: the groups whose one subscriber on this node gets the event. */
  groups: string[];
  /** Whether the node's ungrouped (or, with `all`, every) matching subscriber gets it. */
  loose: boolean;
}

interface Remote {
  version: number;
  seen: number;
  entries: { pattern: TopicPattern; group?: string }[];
}

/** Another node's subscriptions as this node knows them. */
export interface RemoteSubscriptions {
  /** The node's overlay address. */
  address: string;
  /** Its announced version. */
  version: number;
  /** Its subscriptions. */
  entries: SubscriptionEntry[];
}

/** The subscriptions table; see the module docs. */
export class SubscriptionTable {
  readonly #local = new Set<Subscription>();
  readonly #remote = new Map<string, Remote>();
  readonly #turns = new Map<string, number>();
  #version: number;

  /** An empty table; `version` starts the local version (a clock, so a restart goes up). */
  constructor(version: number = Date.now()) {
    this.#version = version;
  }

  /** The local subscriptions' version: it goes up on every change. */
  get version(): number {
    return this.#version;
  }

  /** Adds a local subscription; throws when it would make too many distinct entries. */
  addLocal(sub: Subscription): void {
    const key = entryKey(sub.pattern.text, sub.group);
    const keys = new Set([...this.#local].map((s) => entryKey(s.pattern.text, s.group)));
    if (!keys.has(key) && keys.size >= MAX_SUBSCRIPTION_ENTRIES) {
      throw new Error(
        `too many distinct subscriptions on this node (at most ${MAX_SUBSCRIPTION_ENTRIES} ` +
          "pattern and group pairs)",
      );
    }
    this.#local.add(sub);
    if (!keys.has(key)) this.#version++;
  }

  /** Removes a local subscription; true when the distinct entries changed. */
  removeLocal(sub: Subscription): boolean {
    if (!this.#local.delete(sub)) return false;
    const key = entryKey(sub.pattern.text, sub.group);
    for (const s of this.#local) if (entryKey(s.pattern.text, s.group) === key) return false;
    this.#version++;
    return true;
  }

  /** Whether this node subscribes to anything (what {@link localEntries} would list, cheaply). */
  get hasLocal(): boolean {
    return this.#local.size > 0;
  }

  /** The local subscriptions' distinct pattern and group pairs. */
  localEntries(): SubscriptionEntry[] {
    const out = new Map<string, SubscriptionEntry>();
    for (const s of this.#local) {
      const key = entryKey(s.pattern.text, s.group);
      if (!out.has(key)) {
        out.set(
          key,
          s.group ? { pattern: s.pattern.text, group: s.group } : { pattern: s.pattern.text },
        );
      }
    }
    return [...out.values()];
  }

  /** Local subscriptions now. */
  get localCount(): number {
    return this.#local.size;
  }

  /**
   * Takes a node's announced subscriptions (entries already checked); an announcement older
   * than the one held is ignored (false).
   */
  setRemote(address: string, version: number, entries: SubscriptionEntry[], now: number): boolean {
    const known = this.#remote.get(address);
    if (known !== undefined && version < known.version) return false;
    this.#remote.set(address, {
      version,
      seen: now,
      entries: entries.map((e) => ({ pattern: new TopicPattern(e.pattern), group: e.group })),
    });
    return true;
  }

  /** Whether `address` announced its subscriptions and is still held. */
  hasRemote(address: string): boolean {
    return this.#remote.has(address);
  }

  /** Forgets nodes not heard from since `before`, and those `keep` says are gone. */
  expire(before: number, keep: (address: string) => boolean = () => true): void {
    for (const [a, r] of this.#remote) {
      if (r.seen < before || !keep(a)) this.#remote.delete(a);
    }
  }

  /** The other nodes' subscriptions as held now. */
  remote(): RemoteSubscriptions[] {
    return [...this.#remote].map(([address, r]) => ({
      address,
      version: r.version,
      entries: r.entries.map((
        e,
      ) => (e.group ? { pattern: e.pattern.text, group: e.group } : { pattern: e.pattern.text })),
    }));
  }

  /**
   * Plans an event: the nodes (by address, `self` for this node) that get it and what each is to
   * do. Only nodes for which `eligible` is true are planned (members, not known to be down).
   */
  plan(
    topic: string,
    mode: WireMode,
    self: string,
    eligible: (address: string) => boolean = () => true,
  ): Map<string, NodePlan> {
    const nodes: [string, { pattern: TopicPattern; group?: string }[]][] = [
      [self, [...this.#local].map((s) => ({ pattern: s.pattern, group: s.group }))],
    ];
    for (const [a, r] of this.#remote) if (a !== self && eligible(a)) nodes.push([a, r.entries]);
    const out = new Map<string, NodePlan>();
    const at = (a: string) => {
      let p = out.get(a);
      if (p === undefined) out.set(a, p = { groups: [], loose: false });
      return p;
    };
    const groups = new Map<string, string[]>();
    for (const [address, entries] of nodes) {
      for (const e of entries) {
        if (!e.pattern.matches(topic)) continue;
        if (mode === "all" || e.group === undefined) at(address).loose = true;
        else {
          const list = groups.get(e.group) ?? [];
          if (!list.includes(address)) list.push(address);
          groups.set(e.group, list);
        }
      }
    }
    for (const [group, list] of [...groups].sort(([a], [b]) => (a < b ? -1 : 1))) {
      list.sort();
      at(list[this.#turn(`node ${group}`) % list.length]).groups.push(group);
    }
    return out;
  }

  /** The local subscribers that get an event, as `plan` (here or at its publisher) said. */
  localTargets(topic: string, mode: WireMode, plan: NodePlan): Subscription[] {
    const out: Subscription[] = [];
    const grouped = new Map<string, Subscription[]>();
    for (const s of this.#local) {
      if (!s.pattern.matches(topic)) continue;
      if (mode === "all" || s.group === undefined) {
        if (plan.loose) out.push(s);
      } else if (plan.groups.includes(s.group)) {
        const list = grouped.get(s.group) ?? [];
        list.push(s);
        grouped.set(s.group, list);
      }
    }
    for (const [group, list] of grouped) out.push(list[this.#turn(`sub ${group}`) % list.length]);
    return out;
  }

  #turn(key: string): number {
    const n = this.#turns.get(key) ?? 0;
    // The map of turns is bounded by the groups seen; reset it if that ever grows large.
    if (this.#turns.size > 4096) this.#turns.clear();
    this.#turns.set(key, n + 1);
    return n;
  }
}

function entryKey(pattern: string, group: string | undefined): string {
  return `${pattern} ${group ?? ""}`;
}
