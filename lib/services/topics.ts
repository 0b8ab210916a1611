/**
 * Topics and topic patterns for publish and subscribe.
 *
 * A topic is segments joined by `/` (`status/updated`, `jobs/eu/done`): 1 to 16 segments, each 1
 * to 64 characters from `A-Z a-z 0-9 _ - . : @ = +`, at most 255 characters in all. A pattern is a
 * topic whose segments may also be:
 * - `*`: exactly one segment (`status/*` matches `status/updated`, not `status` nor `status/a/b`);
 * - `>` as the last segment: one or more segments (`jobs/>` matches `jobs/eu` and `jobs/eu/done`,
 *   not `jobs`); a pattern of `>` alone matches every topic.
 * @module
 */

import { quote } from "../text/quote.ts";

/** The longest topic or pattern, characters. */
export const MAX_TOPIC_CHARS = 255;
/** Most segments in a topic or pattern. */
export const MAX_TOPIC_SEGMENTS = 16;

const SEGMENT = /^[A-Za-z0-9_\-.:@=+]{1,64}$/;

function shapeProblem(text: unknown, what: string): string | undefined {
  if (typeof text !== "string") return `a ${what} must be a string`;
  if (text.length === 0) return `a ${what} must not be empty`;
  if (text.length > MAX_TOPIC_CHARS) {
    return `the ${what} has ${text.length} characters (at most ${MAX_TOPIC_CHARS})`;
  }
  const n = text.split("/").length;
  if (n > MAX_TOPIC_SEGMENTS) {
    return `the ${what} has ${n} segments (at most ${MAX_TOPIC_SEGMENTS})`;
  }
  return undefined;
}

function segmentProblem(seg: string): string | undefined {
  if (SEGMENT.test(seg)) return undefined;
  if (seg === "") return "has an empty segment (a leading, trailing or doubled /)";
  return `has a bad segment ${quote(seg)} (1 to 64 of A-Z a-z 0-9 _ - . : @ = +)`;
}

/** What is wrong with `text` as a topic to publish to (no wildcards), or undefined. */
export function topicProblem(text: unknown): string | undefined {
  const p = shapeProblem(text, "topic");
  if (p !== undefined) return p;
  for (const seg of (text as string).split("/")) {
    if (seg === "*" || seg === ">") {
      return `the topic ${quote(text as string)} has a wildcard (${seg}): only patterns may`;
    }
    const q = segmentProblem(seg);
    if (q !== undefined) return `the topic ${quote(text as string)} ${q}`;
  }
  return undefined;
}

/** What is wrong with `text` as a topic pattern, or undefined. */
export function patternProblem(text: unknown): string | undefined {
  const p = shapeProblem(text, "pattern");
  if (p !== undefined) return p;
  const segs = (text as string).split("/");
  for (const [i, seg] of segs.entries()) {
    if (seg === "*") continue;
    if (seg === ">") {
      if (i === segs.length - 1) continue;
      return `the pattern ${quote(text as string)} has > before its last segment`;
    }
    if (seg === "**") {
      return `the pattern ${quote(text as string)} uses **: write > (one or more segments)`;
    }
    const q = segmentProblem(seg);
    if (q !== undefined) return `the pattern ${quote(text as string)} ${q}`;
  }
  return undefined;
}

/**
 * A parsed topic pattern; see the module docs.
 *
 * @example
 * ```ts run
 * import { TopicPattern } from "@weft/weft/services";
 * const status = new TopicPattern("status/*"); // `*`: one segment
 * console.log(status.matches("status/up"), status.matches("status/a/b")); // prints: true false
 * console.log(new TopicPattern("jobs/>").matches("jobs/eu/done")); // prints: true
 * ```
 */
export class TopicPattern {
  /** The pattern as written. */
  readonly text: string;
  readonly #segs: readonly string[];
  readonly #tail: boolean;

  /** Parses `text`; throws an Error naming what is wrong. */
  constructor(text: string) {
    const p = patternProblem(text);
    if (p !== undefined) throw new Error(p);
    this.text = text;
    const segs = text.split("/");
    this.#tail = segs.at(-1) === ">";
    this.#segs = this.#tail ? segs.slice(0, -1) : segs;
  }

  /** True when `topic` (a valid topic) matches. */
  matches(topic: string): boolean {
    const segs = topic.split("/");
    const fixed = this.#segs;
    if (this.#tail ? segs.length <= fixed.length : segs.length !== fixed.length) return false;
    for (let i = 0; i < fixed.length; i++) {
      if (fixed[i] !== "*" && fixed[i] !== segs[i]) return false;
    }
    return true;
  }
}
