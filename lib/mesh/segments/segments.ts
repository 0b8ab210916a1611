/**
 * The Layer 2 segments this member is in, as a mesh part: from the policy's `segments:` and the
 * view, which segments select this member and which other members are in each, handed to the
 * data plane ({@link SegmentDriver}) whenever either changes. A member whose labels stop
 * matching leaves the segment (its bridge goes); one that joins, leaves or loses its labels is
 * added to or removed from every other member's flooding list with the same view.
 * @module
 */

import type { Logger } from "../../log/logger.ts";
import type { Member, MembershipView } from "../../members/member.ts";
import type { PolicyDocument, Segment } from "../../policy/schema.ts";
import { termMatchesMember } from "../../policy/selector.ts";
import type { SegmentStatus } from "../../status/status.ts";
import {
  bridgeName,
  SEGMENT_DRIVERS,
  type SegmentDriver,
  segmentMtu,
  type SegmentPlan,
} from "../../segments/segments.ts";

/** Whether `member` is in `segment`. */
export function inSegment(segment: Segment, member: Member): boolean {
  return segment.select.some((t) => termMatchesMember(t, member));
}

/**
 * What the data plane must carry for the member `self` (public key): one plan per segment that
 * selects it, its remotes the other online members the segment selects (IPv4 overlay addresses).
 */
export function planSegments(
  doc: PolicyDocument | null,
  view: MembershipView,
  self: string,
  overlayMtu: number,
): SegmentPlan[] {
  const me = view.members.find((m) => m.publicKey === self);
  if (!me || !doc?.segments?.length) return [];
  const local = me.address.split("/")[0];
  const out: SegmentPlan[] = [];
  for (const g of doc.segments) {
    if (!inSegment(g, me)) continue;
    const remotes = view.members
      .filter((m) => m.publicKey !== self && !m.offline && inSegment(g, m))
      .map((m) => m.address.split("/")[0])
      .sort();
    out.push({
      name: g.name,
      driver: g.driver,
      vni: g.vni,
      mtu: segmentMtu(overlayMtu, g.mtu),
      local,
      remotes,
    });
  }
  return out;
}

/** The segments section of a mesh agent's options. */
export interface SegmentsOptions {
  /**
   * The segments' data planes, one per driver name a policy may give a segment (default: the
   * kernel's VXLAN and bridges, `vxlan`; tests replace them).
   * @ignore internal: tests' stand-in for the host's bridges
   */
  segmentDrivers?: readonly SegmentDriver[];
}

/** What the part reads. */
export interface SegmentsDeps {
  /**
   * The data planes by their names; null in userspace mode (segments are not carried there).
   * A segment whose driver is not among them is an error naming it.
   */
  drivers: readonly SegmentDriver[] | null;
  /** This member's public key. */
  self: string;
  /** The overlay interface's MTU. */
  mtu: number;
  /** The view held now. */
  view: () => MembershipView;
  /** The policy document in force (null: none). */
  policy: () => PolicyDocument | null;
  /** The logger. */
  logger: Logger;
}

/** This member's segments, kept in step with the view and the policy. */
export class MeshSegments {
  readonly #d: SegmentsDeps;
  #plans: SegmentPlan[] = [];
  #key = "";
  #error: string | null = null;
  #started = false;
  #closed = false;
  #warnedUserspace = false;

  /** The part; nothing happens before {@link start}. */
  constructor(deps: SegmentsDeps) {
    this.#d = deps;
  }

  /**
   * Removes what a crashed run left, then sets up the segments the policy already gives this
   * member; throws, naming the cause, when the data plane cannot carry them.
   */
  async start(): Promise<void> {
    if (this.#closed) return;
    this.#started = true;
    for (const d of this.#d.drivers ?? []) await d.sweep();
    const error = await this.#sync();
    if (error !== null) throw new Error(`segments: ${error}`);
  }

  /** A new view: members joined, left, or changed labels. */
  viewChanged(): void {
    this.#resync();
  }

  /** A new policy came into force: segments added, changed or removed. */
  policyChanged(): void {
    this.#resync();
  }

  /** Removes every segment. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const d of this.#d.drivers ?? []) await d.close();
  }

  /** The segments this member is in, for `/status`. */
  status(): SegmentStatus[] {
    const doc = this.#d.policy();
    const view = this.#d.view();
    return this.#plans.map((p) => {
      const g = doc?.segments?.find((s) => s.name === p.name);
      const members = g
        ? view.members.filter((m) => !m.offline && inSegment(g, m))
          .map((m) => ({ name: m.name, address: m.address.split("/")[0] }))
        : [];
      return {
        name: p.name,
        vni: p.vni,
        mtu: p.mtu,
        bridge: bridgeName(p.name),
        driver: p.driver,
        members,
        up: this.#error === null,
        ...(this.#error !== null ? { error: this.#error } : {}),
      };
    });
  }

  #resync(): void {
    if (!this.#started || this.#closed) return;
    this.#sync().then((error) => {
      if (error !== null) this.#d.logger.error("segments not set up", { error });
    });
  }

  /** Applies the plans if they changed; the error text, or null. */
  async #sync(): Promise<string | null> {
    const plans = planSegments(this.#d.policy(), this.#d.view(), this.#d.self, this.#d.mtu);
    const key = JSON.stringify(plans);
    // The same plans again: nothing to do, unless the last attempt failed.
    if (key === this.#key && this.#error === null) return null;
    this.#key = key;
    const drivers = this.#d.drivers;
    if (drivers === null) {
      this.#plans = [];
      if (plans.length && !this.#warnedUserspace) {
        this.#warnedUserspace = true;
        this.#d.logger.warn("segments select this node, but userspace mode carries no frames", {
          segments: plans.map((p) => p.name).join(","),
        });
      }
      return null;
    }
    const before = this.#plans.map((p) => p.name);
    // Each driver gets its own segments (none: it removes what it carried).
    const errors: string[] = [];
    for (const d of drivers) {
      try {
        await d.apply(plans.filter((p) => p.driver === d.name));
      } catch (e) {
        errors.push(e instanceof Error ? e.message : String(e));
      }
    }
    const have = new Set(drivers.map((d) => d.name));
    for (const p of plans) {
      if (have.has(p.driver)) continue;
      errors.push(
        `segment ${p.name} runs on the ${p.driver} driver, which this node does not have (${
          have.size ? `it has ${[...have].join(", ")}` : "it has none"
        }; ${p.driver} needs ${SEGMENT_DRIVERS[p.driver]})`,
      );
    }
    this.#error = errors.length ? errors.join("; ") : null;
    this.#plans = plans;
    const now = plans.map((p) => p.name);
    for (const p of plans) {
      if (!before.includes(p.name) && this.#error === null) {
        this.#d.logger.info("segment joined", {
          segment: p.name,
          vni: p.vni,
          bridge: bridgeName(p.name),
          mtu: p.mtu,
          members: p.remotes.length + 1,
        });
      }
    }
    for (const name of before) {
      if (!now.includes(name)) this.#d.logger.info("segment left", { segment: name });
    }
    return this.#error;
  }
}
