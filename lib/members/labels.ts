/**
 * Who may set a member's labels. Labels that policies trust are granted: by the token a node
 * joined with, or by the leader's operator (the leader's own labels). A node may assert labels
 * about itself only under the reserved prefix `node.weft/`; those are kept apart (`nodeLabels`)
 * and are untrusted: a policy selector on an ordinary key (`role=db`) never matches them, since
 * granted labels may not use the prefix and asserted labels may use nothing else.
 * @module
 */

import { dnsZoneProblem } from "../net/names.ts";
import { quote } from "../text/quote.ts";
import type { Member } from "./member.ts";

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

/**
 * The labels worked out per labels object: a policy compiled against 10,000 members asks for
 * each member's at every membership change, and records (their label objects with them) are
 * replaced on a change, never edited, so the answer for an object stays right.
 */
const POLICY_LABELS = new WeakMap<object, WeakMap<object, Readonly<Record<string, string>>>>();
const NO_LABELS: Record<string, string> = Object.freeze({});

/**
 * The labels policy selectors see: the granted ones and the node's own under the prefix. The
 * object returned is frozen and may be shared: the same for the same label objects.
 */
export function policyLabels(
  m: Pick<Member, "labels" | "nodeLabels">,
): Readonly<Record<string, string>> {
  const granted = m.labels ?? NO_LABELS;
  const own = m.nodeLabels ?? NO_LABELS;
  let byOwn = POLICY_LABELS.get(granted);
  const known = byOwn?.get(own);
  if (known) return known;
  // Every node re-checks the split, so a record from an older leader cannot blur it.
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(granted)) if (!isNodeLabelKey(k)) out[k] = v;
  for (const [k, v] of Object.entries(own)) if (isNodeLabelKey(k)) out[k] = v;
  Object.freeze(out);
  if (!byOwn) POLICY_LABELS.set(granted, byOwn = new WeakMap());
  byOwn.set(own, out);
  return out;
}

const LABEL_NAME_RE = /^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$/;

function labelNameProblem(text: string, what: string): string | undefined {
  if (text.length > 63) return `${what} is ${text.length} characters long (at most 63)`;
  if (!LABEL_NAME_RE.test(text)) {
    return `${what} must start and end with a letter or digit and hold only letters, digits, ` +
      "'-', '_' and '.'";
  }
  return undefined;
}

/**
 * What is wrong with `key` as a Kubernetes label key: an optional DNS subdomain prefix (lowercase,
 * at most 253 characters) and `/`, then a name of 1 to 63 letters, digits, `-`, `_` and `.` that
 * starts and ends with a letter or digit.
 */
export function labelKeyProblem(key: string): string | undefined {
  if (key === "") return "the key is empty";
  const slash = key.indexOf("/");
  if (slash >= 0) {
    const prefix = key.slice(0, slash);
    const p = prefix === "" ? "is empty" : dnsZoneProblem(prefix);
    if (p !== undefined || prefix.endsWith(".")) {
      return `the key prefix ${JSON.stringify(prefix)} ${p ?? "must not end with '.'"}`;
    }
    if (prefix.length > 253) return "the key prefix is longer than 253 characters";
    const name = key.slice(slash + 1);
    if (name === "") return "the key has an empty name after '/'";
    return labelNameProblem(name, "the key name");
  }
  return labelNameProblem(key, "the key");
}

/** What is wrong with `value` as a Kubernetes label value: empty, or like a key's name part. */
export function labelValueProblem(value: string): string | undefined {
  return value === "" ? undefined : labelNameProblem(value, "the value");
}

/** A label as `key=value` text splits into. */
export interface LabelPair {
  /** The label key, e.g. `role` or `example.com/tier`. */
  key: string;
  /** The value, possibly empty. */
  value: string;
}

/**
 * Parses `key=value` (the first `=` splits; Kubernetes label syntax), as `--label` takes it;
 * throws an Error naming the text and what is wrong.
 */
export function parseLabelText(text: string): LabelPair {
  const eq = text.indexOf("=");
  if (eq < 0) throw new Error(`invalid label ${quote(text)}: expected KEY=VALUE`);
  const key = text.slice(0, eq);
  const value = text.slice(eq + 1);
  const p = labelPairProblem(key, value);
  if (p !== undefined) throw new Error(`invalid label ${quote(text)}: ${p}`);
  return { key, value };
}

/** What is wrong with `key=value` as a label, or undefined. */
export function labelPairProblem(key: string, value: string): string | undefined {
  return labelKeyProblem(key) ?? labelValueProblem(value);
}

/** Most labels one node, token or service may carry. */
export const MAX_LABELS = 64;

/**
 * What is wrong with `labels` as a label mapping (an object of string values, at most
 * {@link MAX_LABELS}, each pair as `labelPairProblem` wants); the one check for labels from
 * flags, files, the control API and the wire.
 */
export function labelsProblem(labels: unknown): string | undefined {
  if (typeof labels !== "object" || labels === null || Array.isArray(labels)) {
    return "labels must be an object of strings";
  }
  const entries = Object.entries(labels);
  if (entries.length > MAX_LABELS) {
    return `there are ${entries.length} labels (at most ${MAX_LABELS})`;
  }
  for (const [k, v] of entries) {
    if (typeof v !== "string") return `label ${quote(k)} must be a string`;
    const p = labelPairProblem(k, v);
    if (p !== undefined) return `invalid label ${quote(`${k}=${v}`)}: ${p}`;
  }
  return undefined;
}
