/**
 * The names the leader gives members. A joiner only asks for a name: the leader gives it when no
 * one else has a claim on it, else the first free `<name>-2`, `<name>-3`, ... (as Tailscale's
 * control does). Claims, each of which keeps a name from a joiner:
 *
 * - another member holds it (names are unique among members);
 * - the DNS zone gives it a meaning of its own: `leader`, `ns`, `localhost`, the address names
 *   `node-<x>-<y>`, and every service name a member offers or a grant names;
 * - it was a removed member's, for a grace period ({@link DEFAULT_NAME_HOLD_MS}) unless the
 *   operator frees it: a policy rule naming it must not pass to whoever joins next;
 * - a usable join token pins it: that token's node gets it, and no other.
 *
 * A name a token pins is never suffixed: its join is refused with the reason instead. Plain
 * functions over a {@link NameBook}, which the leader's core builds from its state.
 * @module
 */

import { dnsLabelProblem } from "../../net/names.ts";
import { isAddressName, ZONE_RESERVED_LABELS } from "../../dns/zone.ts";

/** How long a removed member's name is kept from other joiners, by default: 24 h. */
export const DEFAULT_NAME_HOLD_MS = 24 * 3_600_000;

// How many suffixes a plain joiner's name is tried with before the join is refused (each try is
// a few map lookups; `node-7` needs 255 to get past the address names).
const MAX_SUFFIX = 1000;

/** A removed member's name, kept for its key until `until` (Unix ms). */
export interface HeldName {
  /** The removed member's public key: it may have its name back. */
  key: string;
  /** Unix ms when the name is free again. */
  until: number;
}

/** What the leader knows of the claims on names, at one moment. */
export interface NameBook {
  /** The public key of the member holding `name`, if any. */
  holder(name: string): string | undefined;
  /** Whether a member offers, or a grant names, a service called `name`. */
  isService(name: string): boolean;
  /** The removed member `name` is held for, if it still is. */
  held(name: string): HeldName | undefined;
  /** The id of the usable token that pins `name`, if any. */
  pinnedBy(name: string): string | undefined;
}

/**
 * Why `name` can be no member's at all (a phrase), or undefined: not a DNS label, or a label
 * the zone answers for otherwise (reserved, an address name, a service's name).
 */
export function reservedNameProblem(
  name: string,
  book: Pick<NameBook, "isService">,
): string | undefined {
  const bad = dnsLabelProblem(name);
  if (bad !== undefined) return `is not a valid DNS label: it ${bad}`;
  if (ZONE_RESERVED_LABELS.has(name)) return "is reserved for the mesh's DNS zone";
  if (isAddressName(name)) return "has the form of the address names node-<x>-<y>";
  if (book.isService(name)) return "is a service's name";
  return undefined;
}

/**
 * Why the member with key `key` may not have `name` (a phrase), or undefined when it may.
 * `token` is the id of the token the name comes from, when a token pins it.
 */
export function nameProblem(
  name: string,
  key: string,
  book: NameBook,
  token?: string,
): string | undefined {
  const reserved = reservedNameProblem(name, book);
  if (reserved !== undefined) return reserved;
  const holder = book.holder(name);
  if (holder !== undefined && holder !== key) return "is another member's";
  const held = book.held(name);
  if (held !== undefined && held.key !== key) {
    return `was a removed member's and is held until ${new Date(held.until).toISOString()} ` +
      "(free it with weft node free-name)";
  }
  const pin = book.pinnedBy(name);
  if (pin !== undefined && pin !== token) return `is pinned by join token ${pin}`;
  return undefined;
}

/** `name` with the suffix `-n`, cut to fit a 63-character label. */
export function suffixed(name: string, n: number): string {
  const tail = `-${n}`;
  return name.slice(0, 63 - tail.length).replace(/-+$/, "") + tail;
}

/**
 * The name a joiner asking for `asked` gets: `asked` itself when it may have it, else the first
 * of `asked-2`, `asked-3`, ... it may have. An error when `asked` is no DNS label, or (hardly
 * possible) no suffix is free.
 */
export function assignName(
  asked: string,
  key: string,
  book: NameBook,
): { name: string } | { error: string } {
  const bad = dnsLabelProblem(asked);
  if (bad !== undefined) {
    return { error: `hostname ${JSON.stringify(asked)} is not a valid DNS label: it ${bad}` };
  }
  if (nameProblem(asked, key, book) === undefined) return { name: asked };
  for (let n = 2; n <= MAX_SUFFIX; n++) {
    const name = suffixed(asked, n);
    if (nameProblem(name, key, book) === undefined) return { name };
  }
  return { error: `hostname "${asked}" and its suffixes up to -${MAX_SUFFIX} are all taken` };
}

/** The names removed members hold at `now`, from the leader's records of departed keys. */
export function heldNames(
  left: Record<string, { at: number; name?: string }> | undefined,
  now: number,
  holdMs: number,
): Map<string, HeldName> {
  const held = new Map<string, HeldName>();
  for (const [key, rec] of Object.entries(left ?? {})) {
    if (rec.name === undefined || now >= rec.at + holdMs) continue;
    const until = rec.at + holdMs;
    // Two removed members with one name (from before names were unique): the later holds it.
    const other = held.get(rec.name);
    if (!other || other.until < until) held.set(rec.name, { key, until });
  }
  return held;
}
