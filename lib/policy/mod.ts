/**
 * Network policy: the YAML policy document, its parser and serializer, its checks against the
 * members (what the leader runs before it puts one in force), and the Layer 2 segments the
 * document defines (one added or removed, validated whole; the members each one selects). The
 * engine that decides flows and the packet filter a node runs are the mesh agent's own.
 *
 * @example Parse a policy and print it back in canonical form
 * ```ts run
 * import { parsePolicy, serializePolicy } from "@weft/weft/policy";
 *
 * const doc = parsePolicy(
 *   "defaults:\n  inbound: deny\npolicies:\n" +
 *     "  - name: web\n    action: allow\n    to: [role=web]\n    proto: tcp\n    ports: [443]\n",
 * );
 * console.log(doc.policies[0].name, doc.defaults.inbound); // prints: web deny
 * const canonical = serializePolicy(doc); // every field written out, in one order
 * console.log(canonical.split("\n").filter((l) => l.includes("priority:")));
 * // prints: [ "    priority: 1000" ]
 * console.log(serializePolicy(parsePolicy(canonical)) === canonical); // prints: true
 * ```
 * @module
 */

export {
  type CheckedPolicy,
  checkPolicyText,
  MAX_POLICY_BYTES,
  parsePolicy,
  type PolicyCheckOptions,
  serializePolicy,
} from "./parse.ts";
export {
  type CallerTerm,
  type CallRule,
  type Direction,
  type LabelMatch,
  type LabelOp,
  type PolicyAction,
  type PolicyDefaults,
  type PolicyDocument,
  PolicyError,
  type PolicyProblem,
  type PolicyProto,
  type PolicyRule,
  type PolicyTest,
  type PortRange,
  type QosClass,
  type RuleQos,
  type Segment,
  type SegmentDriverName,
  type Selector,
  type SelectorTerm,
  type SelectorWire,
} from "./schema.ts";
export {
  addSegment,
  removeSegment,
  SegmentConflictError,
  type SegmentMember,
  SegmentNotFoundError,
  type SegmentSpec,
  type SegmentView,
  segmentViews,
} from "./segment_admin.ts";
export { compilePolicyText, type PolicyOrigin, type VersionedPolicy } from "./source.ts";

// The types the exports above refer to, so that this entry documents (and lints) alone.
export type { Member, MemberGrants, MembershipView, ServiceSpec } from "../members/member.ts";
export { SEGMENT_DRIVERS } from "../segments/segments.ts";
export {
  CALL_DEFAULT_RULE,
  type CallExplanation,
  type CallQuery,
  type CallVerdict,
  decideCall,
  explainCall,
} from "./calls.ts";
