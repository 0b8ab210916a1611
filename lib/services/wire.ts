/**
 * The service layer's messages and their MessagePack encoding. Each message is one MessagePack
 * array whose first element says its kind:
 *
 * | kind | array |
 * |---|---|
 * | request | `[1, id, service, action, params, ttlMs]` |
 * | response, ok | `[2, id, 0, result, idempotent]` |
 * | response, error | `[2, id, 1, code, message, status or nil, idempotent]` |
 * | event | `[3, id, topic, data, mode, groups, loose]` |
 * | event ack | `[4, id]` |
 * | subscriptions | `[5, version, [[pattern, group or nil], ...]]` |
 * | ping | `[6, id]` |
 * | pong | `[7, id]` |
 * | subscriptions ack | `[8, version]` |
 * | hello | `[9, id, flags]` |
 * | hello answer | `[10, id, flags]` |
 *
 * A hello tells the receiver what the sender's service layer takes beyond this base (flags, see
 * peer_features.ts: compressed messages) and asks for the receiver's; the answer carries them.
 * A node that predates hellos drops them, and is then taken to take nothing more.
 *
 * A ping asks whether the receiver's service layer is alive (a caller pings the instances that
 * let its calls time out); the pong answers it with the same id.
 *
 * `ttlMs` is the time the caller still waits (a duration, since the nodes' clocks differ). An
 * event's `mode` is 0 (every subscriber) or 1 (one subscriber per group: the receiver serves the
 * `groups` listed, and its ungrouped subscribers when `loose`). Payloads (params, results, event
 * data) are MessagePack values: nil, booleans, numbers, strings, byte arrays, arrays and maps
 * with string keys; extension types (timestamps included) are refused.
 *
 * Decoding is strict: anything else (a wrong kind, a field of the wrong type or out of range,
 * trailing bytes) is null, never an exception, so the socket callback can count it and go on.
 * @module
 */

import { Decoder, Encoder } from "npm:@msgpack/msgpack@^3.1.3";
import { serviceNameProblem } from "../members/services.ts";
import { nestedDeeperThan } from "./msgpack_depth.ts";
import { isServiceErrorCode, type ServiceErrorCode } from "./errors.ts";
import { patternProblem, topicProblem } from "./topics.ts";

/** A call of `action` of `service`, `ttlMs` before the caller stops waiting. */
export interface RequestMessage {
  /** The kind. */
  kind: "request";
  /** The caller's id for this call (a retry to the same instance reuses it). */
  id: number;
  /** The service. */
  service: string;
  /** The action. */
  action: string;
  /** The action's input. */
  params: unknown;
  /** How long the caller still waits, ms. */
  ttlMs: number;
}

/** An action's outcome: a result, or an error with its code. */
export type Answer =
  & {
    /** Whether the action is declared idempotent (safe to run twice), so callers may retry. */
    idempotent: boolean;
  }
  & (
    | { ok: true; result: unknown }
    | { ok: false; code: ServiceErrorCode; message: string; status?: number }
  );

/** The answer to a request. */
export type ResponseMessage =
  & {
    /** The kind. */
    kind: "response";
    /** The request's id. */
    id: number;
  }
  & Answer;

/** How an event is delivered across nodes. */
export type WireMode = "all" | "one-per-service";

/** An event for the receiver's subscribers. */
export interface EventMessage {
  /** The kind. */
  kind: "event";
  /** The publisher's id for this event (a resend reuses it). */
  id: number;
  /** The topic. */
  topic: string;
  /** The payload. */
  data: unknown;
  /** Every matching subscriber, or one per group. */
  mode: WireMode;
  /** For `one-per-service`: the groups whose one subscriber this node gives the event to. */
  groups: string[];
  /** For `one-per-service`: whether this node's ungrouped subscribers get it too. */
  loose: boolean;
}

/** The receiver has the event (it went to its subscribers, or was a duplicate). */
export interface EventAckMessage {
  /** The kind. */
  kind: "event-ack";
  /** The event's id. */
  id: number;
}

/** One subscription as other nodes see it. */
export interface SubscriptionEntry {
  /** The topic pattern. */
  pattern: string;
  /** The service group, for `one-per-service` delivery. */
  group?: string;
}

/** A node's subscriptions, all of them: what it sends the others so they know where to publish. */
export interface SubscriptionsMessage {
  /** The kind. */
  kind: "subscriptions";
  /** Increases whenever the node's subscriptions change. */
  version: number;
  /** Its subscriptions, each pattern and group once. */
  entries: SubscriptionEntry[];
}

/** The receiver holds the sender's subscriptions of this version (or a later one). */
export interface SubscriptionsAckMessage {
  /** The kind. */
  kind: "subscriptions-ack";
  /** The version taken. */
  version: number;
}

/** Is the receiver's service layer alive? (Or, as a pong, the answer: it is.) */
export type LivenessMessage =
  | { /** The question. */ kind: "ping"; /** Its id. */ id: number }
  | { /** The answer. */ kind: "pong"; /** The ping's id. */ id: number };

/** What a service layer takes beyond the base protocol (peer_features.ts), asked or answered. */
export type HelloMessage =
  | {
    /** The question. */ kind: "hello"; /** Its id. */
    id: number; /** The sender's flags. */
    flags: number;
  }
  | {
    /** The answer. */ kind: "hello-ack"; /** The question's id. */
    id: number;
    /** The sender's flags. */ flags: number;
  };

/** Any message of the service layer. */
export type ServiceMessage =
  | HelloMessage
  | RequestMessage
  | ResponseMessage
  | EventMessage
  | EventAckMessage
  | SubscriptionsMessage
  | SubscriptionsAckMessage
  | LivenessMessage;

/** The longest time a caller may say it waits, ms (10 minutes). */
export const MAX_TTL_MS = 600_000;
/** Most subscription entries one node may announce. */
export const MAX_SUBSCRIPTION_ENTRIES = 256;
/** Most groups one event may name. */
export const MAX_EVENT_GROUPS = 256;
/** Longest error message carried, characters (longer ones are cut when encoding). */
export const MAX_ERROR_MESSAGE = 1024;
/** Deepest nesting of a payload. */
export const MAX_VALUE_DEPTH = 64;

const ACTION = /^[A-Za-z0-9_.-]{1,64}$/;

/** What is wrong with `action` as an action name (1 to 64 of `A-Z a-z 0-9 _ . -`), or undefined. */
export function actionNameProblem(action: unknown): string | undefined {
  if (typeof action !== "string") return "an action name must be a string";
  if (ACTION.test(action) && action !== "." && action !== "..") return undefined;
  return `bad action name ${JSON.stringify(action.slice(0, 64))} (1 to 64 of A-Z a-z 0-9 _ . -)`;
}

/**
 * What in `v` cannot travel as a payload (a function, a Date, a Map, a class instance, a typed
 * array other than Uint8Array, a bigint, nesting deeper than {@link MAX_VALUE_DEPTH}, an array
 * or object of more than {@link MAX_CONTAINER_ITEMS} items), as a path
 * and a reason; undefined when it can. `undefined` values are allowed (nil, or left out of maps).
 */
export function valueProblem(v: unknown, path = "", depth = 0): string | undefined {
  if (v === null || v === undefined) return undefined;
  const t = typeof v;
  if (t === "string" || t === "number" || t === "boolean") return undefined;
  const at = path === "" ? "the value" : path;
  if (t !== "object") return `${at} is a ${t}`;
  if (v instanceof Uint8Array) return undefined;
  if (depth >= MAX_VALUE_DEPTH) return `${at} is nested over ${MAX_VALUE_DEPTH} deep`;
  if (Array.isArray(v)) {
    if (v.length > MAX_CONTAINER_ITEMS) {
      return `${at} has ${v.length} items, over ${MAX_CONTAINER_ITEMS}`;
    }
    for (let i = 0; i < v.length; i++) {
      const p = valueProblem(v[i], `${path}[${i}]`, depth + 1);
      if (p !== undefined) return p;
    }
    return undefined;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) {
    return `${at} is a ${(v as object).constructor?.name ?? "class instance"}, not a plain object`;
  }
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length > MAX_CONTAINER_ITEMS) {
    return `${at} has ${entries.length} keys, over ${MAX_CONTAINER_ITEMS}`;
  }
  for (const [k, x] of entries) {
    const p = valueProblem(x, `${path}.${k}`, depth + 1);
    if (p !== undefined) return p;
  }
  return undefined;
}

/** How deep a whole message may nest: a value's limit plus the message's own levels. */
export const MAX_MESSAGE_DEPTH = MAX_VALUE_DEPTH + 8;
/** The most items an array or map in a message may hold (entries, for a map). */
export const MAX_CONTAINER_ITEMS = 65_536;
/** The longest string or byte string in a message, in bytes: a whole message's limit (16 MiB). */
export const MAX_STRING_BYTES = 16 << 20;

const encoder = new Encoder({ ignoreUndefined: true, maxDepth: MAX_MESSAGE_DEPTH });
// Extensions are refused (maxExtLength 0): only plain data comes out. The decoder has no depth
// limit of its own: decodeMessage measures the nesting first (nestedDeeperThan).
const decoder = new Decoder({
  maxExtLength: 0,
  maxArrayLength: MAX_CONTAINER_ITEMS,
  maxMapLength: MAX_CONTAINER_ITEMS,
  maxStrLength: MAX_STRING_BYTES,
  maxBinLength: MAX_STRING_BYTES,
});

const KIND = {
  request: 1,
  response: 2,
  event: 3,
  "event-ack": 4,
  subscriptions: 5,
  ping: 6,
  pong: 7,
  "subscriptions-ack": 8,
  hello: 9,
  "hello-ack": 10,
} as const;
const MODES: readonly WireMode[] = ["all", "one-per-service"];

function wireOf(m: ServiceMessage): unknown[] {
  switch (m.kind) {
    case "request":
      return [KIND.request, m.id, m.service, m.action, m.params, m.ttlMs];
    case "response":
      return m.ok ? [KIND.response, m.id, 0, m.result, m.idempotent] : [
        KIND.response,
        m.id,
        1,
        m.code,
        m.message.slice(0, MAX_ERROR_MESSAGE),
        m.status ?? null,
        m.idempotent,
      ];
    case "event":
      return [KIND.event, m.id, m.topic, m.data, MODES.indexOf(m.mode), m.groups, m.loose];
    case "event-ack":
      return [KIND["event-ack"], m.id];
    case "subscriptions":
      return [KIND.subscriptions, m.version, m.entries.map((e) => [e.pattern, e.group ?? null])];
    case "ping":
    case "pong":
      return [KIND[m.kind], m.id];
    case "subscriptions-ack":
      return [KIND["subscriptions-ack"], m.version];
    case "hello":
    case "hello-ack":
      return [KIND[m.kind], m.id, m.flags];
  }
}

/**
 * Encodes a message. Payloads must pass {@link valueProblem} (callers check at the edge, where
 * they can say which value is wrong); throws an Error otherwise.
 */
export function encodeMessage(m: ServiceMessage): Uint8Array {
  return encoder.encode(wireOf(m));
}

const uint = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const str = (v: unknown): v is string => typeof v === "string";
const bool = (v: unknown): v is boolean => typeof v === "boolean";
const group = (v: unknown): v is string => str(v) && serviceNameProblem(v) === undefined;

/**
 * Decodes one message; null when `bytes` is not exactly one well-formed message, or nests
 * deeper than {@link MAX_MESSAGE_DEPTH}, or holds a container or string over the limits above.
 */
export function decodeMessage(bytes: Uint8Array): ServiceMessage | null {
  if (nestedDeeperThan(bytes, MAX_MESSAGE_DEPTH)) return null;
  let a: unknown;
  try {
    a = decoder.decode(bytes);
  } catch {
    return null;
  }
  if (!Array.isArray(a) || !uint(a[1])) return null;
  const id = a[1];
  switch (a[0]) {
    case KIND.request: {
      const [, , service, action, params, ttlMs] = a;
      if (a.length !== 6 || !str(service) || serviceNameProblem(service) !== undefined) return null;
      if (actionNameProblem(action) !== undefined) return null;
      if (!uint(ttlMs) || ttlMs < 1 || ttlMs > MAX_TTL_MS) return null;
      return { kind: "request", id, service, action: action as string, params, ttlMs };
    }
    case KIND.response:
      return decodeResponse(a, id);
    case KIND.event: {
      const [, , topic, data, mode, groups, loose] = a;
      if (a.length !== 7 || topicProblem(topic) !== undefined || !bool(loose)) return null;
      if (mode !== 0 && mode !== 1) return null;
      if (!Array.isArray(groups) || groups.length > MAX_EVENT_GROUPS) return null;
      if (!groups.every(group)) return null;
      return { kind: "event", id, topic: topic as string, data, mode: MODES[mode], groups, loose };
    }
    case KIND["event-ack"]:
      return a.length === 2 ? { kind: "event-ack", id } : null;
    case KIND.subscriptions:
      return decodeSubscriptions(a, id);
    case KIND.ping:
      return a.length === 2 ? { kind: "ping", id } : null;
    case KIND.pong:
      return a.length === 2 ? { kind: "pong", id } : null;
    case KIND["subscriptions-ack"]:
      return a.length === 2 ? { kind: "subscriptions-ack", version: id } : null;
    case KIND.hello:
    case KIND["hello-ack"]:
      if (a.length !== 3 || !uint(a[2]) || a[2] > 0xffff_ffff) return null;
      return a[0] === KIND.hello
        ? { kind: "hello", id, flags: a[2] }
        : { kind: "hello-ack", id, flags: a[2] };
  }
  return null;
}

function decodeResponse(a: unknown[], id: number): ResponseMessage | null {
  if (a[2] === 0) {
    if (a.length !== 5 || !bool(a[4])) return null;
    return { kind: "response", id, ok: true, result: a[3], idempotent: a[4] };
  }
  if (a[2] !== 1 || a.length !== 7) return null;
  const [, , , code, message, status, idempotent] = a;
  if (!isServiceErrorCode(code) || !str(message) || message.length > MAX_ERROR_MESSAGE) {
    return null;
  }
  if (!bool(idempotent)) return null;
  if (status !== null && !(uint(status) && status >= 100 && status <= 599)) return null;
  return {
    kind: "response",
    id,
    ok: false,
    code,
    message,
    idempotent,
    ...(status === null ? {} : { status }),
  };
}

function decodeSubscriptions(a: unknown[], version: number): SubscriptionsMessage | null {
  const list = a[2];
  if (a.length !== 3 || !Array.isArray(list) || list.length > MAX_SUBSCRIPTION_ENTRIES) {
    return null;
  }
  const entries: SubscriptionEntry[] = [];
  for (const e of list) {
    if (!Array.isArray(e) || e.length !== 2 || patternProblem(e[0]) !== undefined) return null;
    if (e[1] !== null && !group(e[1])) return null;
    entries.push(e[1] === null ? { pattern: e[0] } : { pattern: e[0], group: e[1] });
  }
  return { kind: "subscriptions", version, entries };
}
