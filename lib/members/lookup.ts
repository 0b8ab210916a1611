/**
 * A member named as a user names it: its host name, or its name in the mesh's DNS zone
 * (`db.overlay.local`), in any case and with or without the final dot.
 * @module
 */

import { didYouMean } from "../text/did_you_mean.ts";
import { quote } from "../text/quote.ts";
import type { Member } from "./member.ts";

/** A name looked up: the member, or why there is none (naming it, with a suggestion). */
export type MemberLookup = { member: Member } | { problem: string };

/**
 * The member `text` names among `members`: `name` or `name.<zone>` (`zone` as the DNS server has
 * it, `overlay.local.`), compared without case. None: a problem that quotes `text` and, when a
 * member's name is close, says which one was probably meant.
 */
export function memberByName(
  members: readonly Member[],
  text: string,
  zone?: string,
): MemberLookup {
  let name = text.toLowerCase().replace(/\.$/, "");
  const suffix = zone ? `.${zone.toLowerCase().replace(/\.$/, "")}` : "";
  if (suffix && name.endsWith(suffix)) name = name.slice(0, -suffix.length);
  const member = members.find((m) => m.name.toLowerCase() === name);
  if (member) return { member };
  const guess = name === "" ? undefined : didYouMean(name, members.map((m) => m.name));
  return {
    problem: `no member named ${quote(text)}${
      guess === undefined ? "" : ` (did you mean ${guess}?)`
    }`,
  };
}
