/**
 * Who may set a member's labels. Labels that policies trust are granted: by the token a node
 * joined with, or by the leader's operator (the leader's own labels). A node may assert labels
 * about itself only under the reserved prefix `node.weft/`; those are kept apart (`nodeLabels`)
 * and are untrusted: a policy selector on an ordinary key (`role=db`) never matches them, since
 * granted labels may not use the prefix and asserted labels may use nothing else.
 * @module
 */

import { labelsProblem } from "../config/validate.ts";
import type { Member } from "./types.ts";

/** The prefix of the labels a node may assert about itself. */
export const NODE_LABEL_PREFIX = "node.weft/";

/** True for a key a node may assert about itself (`node.weft/...`). */
export function isNodeLabelKey(key: string): boolean {
  return key.startsWith(NODE_LABEL_PREFIX);
}

/** Splits labels into granted ones (ordinary keys) and self-asserted ones (the prefix). */
export function splitLabels(
  labels: Record<string, string>,
): { granted: Record<string, string>; asserted: Record<string, string> } {
  const granted: Record<string, string> = {};
  const asserted: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) {
    if (isNodeLabelKey(k)) asserted[k] = v;
    else granted[k] = v;
  }
  return { granted, asserted };
}

/**
 * What is wrong with `labels` as labels a leader grants (token labels, the leader's own): the
 * shared label checks, and no key under the reserved prefix.
 */
export function grantedLabelsProblem(labels: unknown): string | undefined {
  const p = labelsProblem(labels);
  if (p !== undefined) return p;
  const reserved = Object.keys(labels as object).find(isNodeLabelKey);
  return reserved === undefined ? undefined : `the key prefix ${NODE_LABEL_PREFIX} is reserved ` +
    `for labels a node asserts about itself; it cannot be granted (${JSON.stringify(reserved)})`;
}

/**
 * What is wrong with `labels` as labels a joining node gives itself: every key must be under
 * the reserved prefix, since a node cannot grant itself a label policies trust.
 */
export function ownLabelsProblem(labels: Record<string, string>): string | undefined {
  const bad = Object.entries(labels).find(([k]) => !isNodeLabelKey(k));
  if (bad === undefined) return undefined;
  const [k, v] = bad;
  return `label ${k}=${v}: a node cannot give itself labels; the leader grants them with the ` +
    `join token (weft token create --label ${k}=${v}). Labels a node asserts about itself need ` +
    `the prefix ${NODE_LABEL_PREFIX} (--label ${NODE_LABEL_PREFIX}${
      k.replace(/^.*\//, "")
    }=${v}) ` +
    "and are not trusted by policies on other keys";
}

/** The labels policy selectors see: the granted ones and the node's own under the prefix. */
export function policyLabels(m: Pick<Member, "labels" | "nodeLabels">): Record<string, string> {
  // Every node re-checks the split, so a record from an older leader cannot blur it.
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.labels ?? {})) if (!isNodeLabelKey(k)) out[k] = v;
  for (const [k, v] of Object.entries(m.nodeLabels ?? {})) if (isNodeLabelKey(k)) out[k] = v;
  return out;
}
