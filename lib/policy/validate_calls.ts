/**
 * The policy validator's checks of the call rules (`calls`): who may call which service's actions.
 * @module
 */

import { serviceNameProblem } from "../members/services.ts";
import {
  type CallerTerm,
  type CallRule,
  DEFAULT_PRIORITY,
  MAX_RULES,
  type PolicyAction,
  type PolicyPath,
} from "./model.ts";
import { isMap, NAME_RE, typeName, type Validator } from "./validator.ts";

const CALL_KEYS = ["name", "description", "action", "priority", "from", "service", "actions"];
// As lib/services/wire.ts's action names (that layer is above this one).
const ACTION_NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;

/** The document's `calls`: each call rule checked, a name used twice noted. */
export function callRules(vd: Validator, value: unknown): CallRule[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    vd.fail(["calls"], `calls must be a list of call rules, got ${typeName(value)}`);
  }
  if (value.length > MAX_RULES) {
    vd.fail(["calls"], `${value.length} call rules is more than the limit of ${MAX_RULES}`);
  }
  const out: CallRule[] = [];
  const seen = new Map<string, number>();
  value.forEach((r, i) => {
    const rule = vd.guard(() => callRule(vd, r, ["calls", i]), null);
    if (rule === null) return;
    const first = seen.get(rule.name);
    if (first !== undefined) {
      vd.note(
        ["calls", i, "name"],
        `duplicate call rule name "${rule.name}" (first used by calls[${first}])`,
      );
      return;
    }
    seen.set(rule.name, i);
    out.push(rule);
  });
  return out;
}

function callRule(vd: Validator, v: unknown, path: PolicyPath): CallRule {
  const shape = `a call rule is a map like { name: web-bills, action: allow, from: "role=web", ` +
    `service: billing, actions: [charge] }`;
  if (!isMap(v)) return vd.fail(path, `${shape}, got ${typeName(v)}`);
  vd.checkKeys(v, CALL_KEYS, path, "a call rule");
  const p = (k: string) => [...path, k];
  if (typeof v.name !== "string" || !NAME_RE.test(v.name)) {
    vd.fail(
      v.name === undefined ? path : p("name"),
      v.name === undefined
        ? `a call rule needs a name`
        : `bad call rule name: ${
          typeName(v.name)
        } (letters, digits, "._-", at most 63, starting with a letter or digit)`,
    );
  }
  let action: PolicyAction = "deny";
  if (v.action === undefined) {
    vd.note(path, `call rule "${v.name}" needs an action (allow or deny)`);
  } else action = vd.guard(() => vd.action(v.action, p("action")), action);
  let description: string | undefined;
  if (v.description !== undefined) {
    if (typeof v.description !== "string") {
      vd.note(p("description"), `description must be a string, got ${typeName(v.description)}`);
    } else description = v.description;
  }
  const priority = v.priority === undefined
    ? DEFAULT_PRIORITY
    : vd.guard(() => vd.priority(v.priority, p("priority")), DEFAULT_PRIORITY);
  let service = "*";
  if (v.service === undefined) {
    vd.note(
      path,
      `call rule "${v.name}" needs a service (a service name, or "*" for every one)`,
    );
  } else if (
    typeof v.service !== "string" ||
    (v.service !== "*" && serviceNameProblem(v.service) !== undefined)
  ) {
    vd.note(
      p("service"),
      `bad service: expected a service name or "*", got ${typeName(v.service)}`,
    );
  } else service = v.service;
  const actions: string[] = [];
  if (v.actions !== undefined) {
    const list = Array.isArray(v.actions) ? v.actions : [v.actions];
    if (list.length === 0) {
      vd.note(p("actions"), `empty actions list (leave actions out for every action)`);
    }
    list.forEach((a, i) => {
      const at = Array.isArray(v.actions) ? [...p("actions"), i] : p("actions");
      if (typeof a !== "string" || !ACTION_NAME_RE.test(a) || a === "." || a === "..") {
        vd.note(at, `bad action name: ${typeName(a)} (1 to 64 of A-Z a-z 0-9 _ . -)`);
      } else if (!actions.includes(a)) actions.push(a);
    });
  }
  const any: CallerTerm[] = [{ kind: "any" }];
  const from = v.from === undefined ? any : vd.guard(() => callers(vd, v.from, p("from")), any);
  const rule: CallRule = { name: v.name as string, action, priority, from, service, actions };
  if (description !== undefined) rule.description = description;
  return rule;
}

/** A call rule's `from`: a selector of members, which may also name the services they offer. */
function callers(vd: Validator, v: unknown, path: PolicyPath): CallerTerm[] {
  if (Array.isArray(v)) {
    if (v.length === 0) vd.fail(path, `empty selector list (use "*" for every member)`);
    const out: CallerTerm[] = [];
    for (let i = 0; i < v.length; i++) {
      if (Array.isArray(v[i])) vd.note([...path, i], `a selector list cannot nest lists`);
      else out.push(...vd.guard(() => callers(vd, v[i], [...path, i]), []));
    }
    return out.some((t) => t.kind === "any") ? [{ kind: "any" }] : out;
  }
  if (isMap(v) && Object.hasOwn(v, "services")) {
    const keys = Object.keys(v);
    if (keys.length !== 1) {
      vd.fail(
        path,
        `a selector map has exactly one of labels, names or services; use a list for alternatives`,
      );
    }
    const list = v.services;
    const at = [...path, "services"];
    if (!Array.isArray(list) || list.length === 0) {
      return vd.fail(
        at,
        `services must be a non-empty list of service names, got ${typeName(list)}`,
      );
    }
    const services: string[] = [];
    list.forEach((n, i) => {
      if (typeof n !== "string" || serviceNameProblem(n) !== undefined) {
        vd.note([...at, i], `bad service name: ${typeName(n)} (a lowercase DNS label)`);
      } else if (!services.includes(n)) services.push(n);
    });
    return [{ kind: "services", services }];
  }
  const terms = vd.selector(v, path);
  const out: CallerTerm[] = [];
  for (const t of terms) {
    if (t.kind === "cidrs") {
      vd.note(
        path,
        `a call rule's from picks members (labels, names, services or "*"), not cidrs`,
      );
    } else out.push(t);
  }
  return out;
}
