/**
 * The callee's admission of a call by the policy's call rules (lib/policy/calls.ts): the caller
 * is the member at the overlay address the request came from, which WireGuard's cryptokey
 * routing ties to that member's key (a packet from a peer is accepted only from the addresses the
 * leader gave it), so nothing the message says about its sender counts. A call from this node
 * itself is its own member's. Each refusal is counted by service and rule.
 * @module
 */

import type { Member } from "../members/member.ts";
import { CALL_DEFAULT_RULE, type CallVerdict, decideCall } from "../policy/calls.ts";
import type { CallRule } from "../policy/model.ts";

/** What the authorizer reads, each at the time of a call. */
export interface CallAuthorizerDeps {
  /** The call rules of the policy in force (undefined without a policy or without rules). */
  rules: () => readonly CallRule[] | undefined;
  /** The member at an overlay address, when one is there. */
  member: (address: string) => Member | undefined;
  /** This node's own member record, when the view holds it. */
  self: () => Member | undefined;
}

/** Calls refused, as `/metrics` shows them. */
export interface DeniedCalls {
  /** The service called. */
  service: string;
  /** The rule that refused them (`(default)` when none matched). */
  rule: string;
  /** How many. */
  count: number;
}

/** Decides and counts; see the module docs. */
export class CallAuthorizer {
  readonly #d: CallAuthorizerDeps;
  // By service, then rule: both bounded (services provided here, rules of the policy).
  readonly #denied = new Map<string, Map<string, number>>();

  /** An authorizer over `deps`. */
  constructor(deps: CallAuthorizerDeps) {
    this.#d = deps;
  }

  /**
   * The verdict on a call of `service`/`action` from `caller` (an overlay address; null for
   * this node itself). A refusal is counted; `service` must be one provided here (a bounded set:
   * a caller cannot grow the counters with made-up names).
   */
  check(caller: string | null, service: string, action: string): CallVerdict {
    const rules = this.#d.rules();
    if (rules === undefined || rules.length === 0) {
      return decideCall(undefined, null, service, action);
    }
    const member = caller === null ? this.#d.self() : this.#d.member(caller);
    const v = decideCall(rules, member ?? null, service, action);
    if (!v.allowed) {
      let byRule = this.#denied.get(service);
      if (byRule === undefined) this.#denied.set(service, byRule = new Map());
      const rule = v.rule ?? CALL_DEFAULT_RULE;
      byRule.set(rule, (byRule.get(rule) ?? 0) + 1);
    }
    return v;
  }

  /** The refusals so far, by service and rule. */
  denied(): DeniedCalls[] {
    const out: DeniedCalls[] = [];
    for (const [service, byRule] of this.#denied) {
      for (const [rule, count] of byRule) out.push({ service, rule, count });
    }
    return out;
  }
}
