/**
 * Segments as the leader edits them, in the policy document (the one place segments are
 * defined): a segment added or removed, the whole document validated again by the policy's own
 * validator (so every refusal is its message), and the segments of a document with the members
 * each one selects in a membership view (`weft segment list`, `GET /v1/segments`).
 * @module
 */

import type { Member } from "../members/member.ts";
import { quote } from "../text/quote.ts";
import { didYouMean } from "../text/did_you_mean.ts";
import {
  type PolicyDocument,
  PolicyError,
  policyToWire,
  type Segment,
  type SegmentDriverName,
  type SegmentWire,
  type SelectorWire,
  validatePolicy,
} from "./schema.ts";
import { type Selector, type SelectorTerm, termMatchesMember } from "./selector.ts";

/** A segment to add to the policy: what `weft segment create` and `POST /v1/segments` take. */
export interface SegmentSpec {
  /** Its name: 1-12 of `a-z`, `0-9` and `-` (the bridge on each member is `br-<name>`). */
  name: string;
  /** Its VXLAN network identifier, 1-16777215, unique among the segments. */
  vni: number;
  /**
   * The members in it, as a policy file's `select:` writes them: a label expression
   * (`"site=a"`, `"site in (a,b),!canary"`), `"*"` for every member, a map
   * (`{ names: ["web1", "web2"] }`, `{ labels: { site: "a" } }`) or a list of those (any of
   * them); or a parsed {@link Selector}. Members only: no `cidrs`.
   */
  select: SelectorWire | Selector;
  /** Its MTU, 576-9000; absent: the overlay's less the encapsulation. */
  mtu?: number;
}

/** A member of a segment, as `weft segment list` shows it. */
export interface SegmentMember {
  /** The member's name. */
  name: string;
  /** Its overlay address. */
  address: string;
  /** False when it stopped on purpose (its agent said bye). */
  online: boolean;
}

/** A segment of the policy in force with the members it selects in a view. */
export interface SegmentView {
  /** Its name. */
  name: string;
  /** Its VXLAN network identifier. */
  vni: number;
  /** Its MTU, when the policy sets one (else the overlay's less the encapsulation). */
  mtu?: number;
  /** Its data plane. */
  driver: SegmentDriverName;
  /** Its selector, as a policy file writes it. */
  select: SelectorWire;
  /** The members of the view it selects, by name. */
  members: SegmentMember[];
}

/** A segment that cannot be added because its name or its VNI is taken (HTTP 409). */
export class SegmentConflictError extends PolicyError {}

/** A segment named that the policy does not hold (HTTP 404). */
export class SegmentNotFoundError extends Error {}

const TERM_KINDS = new Set(["any", "labels", "names", "cidrs"]);

/** True when `v` is a parsed selector (terms with a `kind`), not the YAML/JSON form. */
function isParsedSelector(v: unknown): v is Selector {
  return Array.isArray(v) && v.length > 0 &&
    v.every((t) =>
      typeof t === "object" && t !== null && !Array.isArray(t) &&
      TERM_KINDS.has((t as { kind?: unknown }).kind as string)
    );
}

/** A parsed selector in the form a policy file writes (the validator reads it back). */
function selectorWire(select: Selector): SelectorWire {
  try {
    const doc: PolicyDocument = {
      defaults: {},
      policies: [],
      segments: [{ name: "x", vni: 1, select, driver: "vxlan" }],
    };
    return policyToWire(doc).segments![0].select;
  } catch (e) {
    // Terms without what their kind needs (`labels` without `match`, `names` without names).
    throw new PolicyError(
      `bad select: not a selector (${e instanceof Error ? e.message : String(e)})`,
    );
  }
}

function withSegments(doc: PolicyDocument, segments: Segment[]): PolicyDocument {
  const { defaults, policies } = doc;
  return segments.length ? { defaults, policies, segments } : { defaults, policies };
}

/**
 * `doc` with the segment `spec` added last, validated whole by the policy's validator. A name
 * or VNI another segment has is a {@link SegmentConflictError}; anything else the validator
 * refuses (a bad name, VNI, MTU or selector) its {@link PolicyError}, with the new segment's
 * path (`segments[2].vni: bad vni: ...`).
 */
export function addSegment(doc: PolicyDocument, spec: SegmentSpec): PolicyDocument {
  const have = doc.segments ?? [];
  if (typeof spec.name === "string") {
    const same = have.find((s) => s.name === spec.name);
    if (same) {
      throw new SegmentConflictError(
        `segment ${
          quote(spec.name)
        } already exists (vni ${same.vni}): delete it first to change it`,
      );
    }
  }
  if (typeof spec.vni === "number") {
    const same = have.find((s) => s.vni === spec.vni);
    if (same) {
      throw new SegmentConflictError(
        `vni ${spec.vni} is already segment ${
          quote(same.name)
        }'s: each segment needs a vni of its own`,
      );
    }
  }
  const wire = policyToWire(doc);
  const added: Record<string, unknown> = {
    name: spec.name,
    vni: spec.vni,
    select: isParsedSelector(spec.select) ? selectorWire(spec.select) : spec.select,
  };
  if (spec.mtu !== undefined) added.mtu = spec.mtu;
  const segments: unknown[] = [...(wire.segments ?? []), added];
  return validatePolicy({ ...wire, segments });
}

/**
 * `doc` without the segment `name`; a {@link SegmentNotFoundError} when it has none of that
 * name (with the name it most likely meant).
 */
export function removeSegment(doc: PolicyDocument, name: string): PolicyDocument {
  const have = doc.segments ?? [];
  if (!have.some((s) => s.name === name)) {
    const names = have.map((s) => s.name);
    const hint = didYouMean(name, names);
    throw new SegmentNotFoundError(
      `no segment ${quote(name)}${
        hint !== undefined
          ? ` (did you mean ${hint}?)`
          : names.length
          ? ` (the segments: ${names.join(", ")})`
          : " (the policy has none)"
      }`,
    );
  }
  const rest = withSegments(doc, have.filter((s) => s.name !== name));
  // Validated again like every document put in force (it was valid with the segment in it).
  return validatePolicy(policyToWire(rest));
}

/** True when one of the selector's terms picks `member`. */
function selects(select: readonly SelectorTerm[], member: Member): boolean {
  return select.some((t) => termMatchesMember(t, member));
}

/**
 * The segments of `doc` (none without one), each with the members of `members` it selects
 * (sorted by name; offline ones too, marked), in the document's order.
 */
export function segmentViews(
  doc: PolicyDocument | null,
  members: readonly Member[],
): SegmentView[] {
  const segments = doc?.segments ?? [];
  if (!segments.length) return [];
  const wire = new Map<string, SegmentWire>(
    (policyToWire(withSegments({ defaults: {}, policies: [] }, segments)).segments ?? []).map((
      w,
    ) => [w.name, w]),
  );
  return segments.map((s) => ({
    name: s.name,
    vni: s.vni,
    ...(s.mtu !== undefined ? { mtu: s.mtu } : {}),
    driver: s.driver,
    select: wire.get(s.name)!.select,
    members: members.filter((m) => selects(s.select, m))
      .map((m) => ({ name: m.name, address: m.address, online: !m.offline }))
      .sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  }));
}
