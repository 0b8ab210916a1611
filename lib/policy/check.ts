/**
 * A validated policy checked against the mesh it is to be put in force in, where the leader
 * takes it (`weft policy apply`, its configuration at start): a name in a selector must be a
 * member's, or one the document's `future:` lists (a member yet to join), else the policy is
 * refused naming it, as a typo would cut that member off; a label selector that matches no member
 * is only warned about (labels are often granted after the policy is written); and every test of
 * the document's `tests:` must get the verdict it expects, against these members.
 * @module
 */

import type { MembershipView } from "../members/member.ts";
import { policyLabels } from "../members/labels.ts";
import { didYouMean } from "../text/did_you_mean.ts";
import { parseAddress } from "../net/ip.ts";
import { CompiledPolicy } from "./compiled.ts";
import { explainFlow, explainWith } from "./explain.ts";
import {
  formatPath,
  formatProblem,
  type LineLocator,
  MAX_PROBLEMS_SHOWN,
  type PolicyPath,
  type PolicyProblem,
  type ValidatedPolicy,
} from "./schema.ts";
import { formatLabelExpression, labelsMatch } from "./selector.ts";

/** What checking a policy against the members found: problems refuse it, warnings do not. */
export interface PolicyFindings {
  /** Names that are no member's, failing tests. */
  problems: PolicyProblem[];
  /** Label selectors matching no member, tests that wait for a member to join. */
  warnings: string[];
}

/**
 * Checks `v` against the members of `view`; `locate` gives the lines. The tests run only when
 * `v` has no problems of its own (a document with a broken rule would decide flows wrongly).
 */
export function checkPolicyMembers(
  v: ValidatedPolicy,
  view: MembershipView,
  locate: LineLocator = () => undefined,
): PolicyFindings {
  const problems: PolicyProblem[] = [];
  const warnings: string[] = [];
  const at = (path: PolicyPath, reason: string): PolicyProblem => {
    const line = locate(path, false);
    return { path: formatPath(path), reason, ...(line === undefined ? {} : { line }) };
  };
  const known = view.members.map((m) => m.name.toLowerCase());
  const members = new Set(known);
  const future = new Set(v.doc.future ?? []);

  let unknown = 0;
  for (const { name, path } of v.refs.names) {
    if (members.has(name) || future.has(name)) continue;
    // Suggestions cost a walk of the members each: only for the names a message shows.
    const meant = ++unknown <= MAX_PROBLEMS_SHOWN ? didYouMean(name, known) : undefined;
    problems.push(at(
      path,
      `no member ${name}${meant ? ` (did you mean ${meant}?)` : ""}; ` +
        `a member yet to join goes in the policy's future: list`,
    ));
  }

  // One walk of the members per distinct expression: rules often repeat theirs.
  const matches = new Map<string, boolean>();
  for (const { match, path } of v.refs.labels) {
    const text = formatLabelExpression(match);
    let any = matches.get(text);
    if (any === undefined) {
      any = view.members.some((m) => labelsMatch(match, policyLabels(m)));
      matches.set(text, any);
    }
    if (!any) warnings.push(formatProblem(at(path, `labels "${text}" match no member (yet)`)));
  }

  const tests = v.doc.tests ?? [];
  if (v.problems.length === 0 && tests.length > 0) {
    const compiled = new CompiledPolicy(v.doc, view);
    tests.forEach((t, i) => {
      const path = ["tests", i];
      const waiting = [t.from, t.to].find((end) =>
        parseAddress(end) === null && !members.has(end.toLowerCase()) &&
        future.has(end.toLowerCase())
      );
      if (waiting !== undefined) {
        warnings.push(formatProblem(at(path, `not run: ${waiting} has not joined yet`)));
        return;
      }
      let built;
      try {
        built = explainFlow(t, view);
      } catch (e) {
        problems.push(at(path, (e as Error).message));
        return;
      }
      const e = explainWith(compiled, t, built);
      if ((e.allowed ? "allow" : "deny") !== t.expect) {
        problems.push(at(path, `test fails: expects ${t.expect}, but ${e.summary}`));
      }
    });
  }
  if (warnings.length > MAX_PROBLEMS_SHOWN) {
    const more = warnings.length - MAX_PROBLEMS_SHOWN;
    warnings.splice(MAX_PROBLEMS_SHOWN, more, `... and ${more} more`);
  }
  return { problems, warnings };
}
