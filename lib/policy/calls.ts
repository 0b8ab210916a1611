/**
 * Who may call which service and action: the verdict of a policy's call rules (`calls`, see
 * `schema.ts`) on one call, given the caller as the membership knows it. The callee asks it
 * with the member its WireGuard identity makes the caller (lib/services/authorize.ts), and
 * `weft policy test --call` with the member named; nothing in a message counts.
 *
 * Rules are tried in ascending priority (ties keep file order); the first whose `from` picks the
 * caller, whose `service` is the one called (or `*`) and whose `actions` hold the action (or are
 * empty) decides. When none does: a service some rule names (or every one, with a `*` rule) is
 * closed, the call refused by the default; a service no rule names is open, as without rules.
 * @module
 */

import type { Member } from "../members/member.ts";
import type { CallerTerm, CallRule } from "./model.ts";
import { termMatchesMember } from "./selector.ts";

/** The name a refusal by no rule gives in place of a rule's. */
export const CALL_DEFAULT_RULE = "(default)";

/** The verdict on one call. */
export interface CallVerdict {
  /** Whether the call may run. */
  allowed: boolean;
  /** The deciding rule's name, {@link CALL_DEFAULT_RULE} when none matched, null when open. */
  rule: string | null;
  /** Why, in a sentence. */
  reason: string;
}

/** True when a call rule's term picks `member` (a caller that is no member: only `*`). */
export function callerTermMatches(term: CallerTerm, member: Member | null): boolean {
  if (term.kind === "any") return true;
  if (member === null) return false;
  if (term.kind === "services") {
    return member.services.some((s) => term.services.includes(s.name));
  }
  return termMatchesMember(term, member);
}

// The rules in the order they are tried, per list (lists are replaced, never changed).
const ordered = new WeakMap<readonly CallRule[], CallRule[]>();

function inOrder(rules: readonly CallRule[]): CallRule[] {
  let list = ordered.get(rules);
  if (list === undefined) {
    // Array sort is stable: ties keep file order.
    list = [...rules].sort((a, b) => a.priority - b.priority);
    ordered.set(rules, list);
  }
  return list;
}

/**
 * The verdict of `rules` (a document's `calls`, absent for none) on `caller` (the member
 * calling, null when the caller is no member) calling `service`/`action`.
 */
export function decideCall(
  rules: readonly CallRule[] | undefined,
  caller: Member | null,
  service: string,
  action: string,
): CallVerdict {
  const who = caller === null ? "a caller that is no member" : caller.name;
  const what = `${service}/${action}`;
  if (rules === undefined || rules.length === 0) {
    return { allowed: true, rule: null, reason: `the policy has no call rules: ${what} is open` };
  }
  let named = false;
  for (const r of inOrder(rules)) {
    if (r.service !== "*" && r.service !== service) continue;
    named = true;
    if (r.actions.length > 0 && !r.actions.includes(action)) continue;
    if (!r.from.some((t) => callerTermMatches(t, caller))) continue;
    return {
      allowed: r.action === "allow",
      rule: r.name,
      reason: `${r.action === "allow" ? "allowed" : "denied"} by call rule ${r.name}`,
    };
  }
  if (!named) {
    return { allowed: true, rule: null, reason: `no call rule names ${service}: it is open` };
  }
  return {
    allowed: false,
    rule: CALL_DEFAULT_RULE,
    reason: `denied by default: call rules name ${service} and none lets ${who} call ${what}`,
  };
}
