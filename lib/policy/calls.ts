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

import type { Member, MembershipView } from "../members/member.ts";
import { serviceNameProblem } from "../members/services.ts";
import { formatAddress, parseAddress } from "../net/ip.ts";
import type { CallerTerm, CallRule, PolicyAction, PolicyDocument } from "./model.ts";
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

/** What `weft policy test --call` asks: may `from` call `call` (`service/action`)? */
export interface CallQuery {
  /** The caller: a member name or one of its overlay addresses. */
  from: string;
  /** What is called, `service/action`. */
  call: string;
}

/** The verdict on a call, explained as `weft policy test` shows it. */
export interface CallExplanation {
  /** Whether the callee lets the call run. */
  allowed: boolean;
  /** What decided: a rule, the default of a service rules name, or nothing (the service is open). */
  decidedBy: "rule" | "default" | "open";
  /** The deciding rule. */
  rule?: { name: string; action: PolicyAction; priority: number; description?: string };
  /** The caller as judged: its member name, absent for an address no member has. */
  from: { member?: string; address?: string };
  /** The service called. */
  service: string;
  /** The action called. */
  action: string;
  /** One sentence for humans. */
  summary: string;
}

const ACTION_RE = /^[A-Za-z0-9_.-]{1,64}$/;

/** The caller a query names: a member by name, or the member at an address (null: none there). */
function resolveCaller(text: string, view: MembershipView | null): Member | null {
  const t = text.trim();
  const members = view?.members ?? [];
  const literal = parseAddress(t);
  if (literal === null) {
    const m = members.find((x) => x.name.toLowerCase() === t.toLowerCase());
    if (m === undefined) {
      throw new Error(`"${text}" is neither an IP address nor a member of the mesh`);
    }
    return m;
  }
  const addr = formatAddress(literal);
  return members.find((m) =>
    [m.address, m.address6].some((a) => {
      const b = a ? parseAddress(a) : null;
      return b !== null && formatAddress(b) === addr;
    })
  ) ?? null;
}

/**
 * Explains the verdict of `doc`'s call rules (null: no policy) on a call, the caller resolved in
 * `view`; throws an Error on a caller that is neither a member nor an address, or a bad path.
 */
export function explainCall(
  doc: PolicyDocument | null,
  view: MembershipView | null,
  q: CallQuery,
): CallExplanation {
  const slash = q.call.indexOf("/");
  const service = slash < 0 ? q.call : q.call.slice(0, slash);
  const action = slash < 0 ? "" : q.call.slice(slash + 1);
  if (serviceNameProblem(service) !== undefined || !ACTION_RE.test(action)) {
    throw new Error(
      `bad call ${JSON.stringify(q.call)}: expected service/action, as in billing/charge`,
    );
  }
  const caller = resolveCaller(q.from, view);
  const v = decideCall(doc?.calls, caller, service, action);
  const rule = v.rule === null || v.rule === CALL_DEFAULT_RULE
    ? undefined
    : doc?.calls?.find((r) => r.name === v.rule);
  const who = caller?.name ?? q.from.trim();
  return {
    allowed: v.allowed,
    decidedBy: rule !== undefined ? "rule" : v.rule === CALL_DEFAULT_RULE ? "default" : "open",
    ...(rule !== undefined
      ? {
        rule: {
          name: rule.name,
          action: rule.action,
          priority: rule.priority,
          ...(rule.description !== undefined ? { description: rule.description } : {}),
        },
      }
      : {}),
    from: caller !== null ? { member: caller.name } : { address: q.from.trim() },
    service,
    action,
    summary: `${who} calling ${service}/${action}: ${v.reason}` +
      (rule !== undefined ? ` (priority ${rule.priority})` : ""),
  };
}
