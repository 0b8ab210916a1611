/**
 * What the service commands (`weft call`, `weft publish`, `weft subscribe`, `weft service list`,
 * `weft service leader`) do with their arguments and the agent's answers: JSON arguments read
 * once at the edge, answers as text, events as NDJSON lines until the caller stops.
 * `cli/services.ts` wires them to the command line.
 * @module
 */

import { formatTable } from "../lib/status/mod.ts";
import type { PublishResult, ServiceError } from "../lib/services/mod.ts";
import {
  type ControlClient,
  type ServiceLeaderView,
  type ServiceView,
} from "../lib/control/mod.ts";
import { ArgumentError } from "./errors.ts";
import { eventJson, payloadJson } from "./internal_client.ts";

/**
 * `weft call`'s params: the JSON text given, or null without one; an {@link ArgumentError}
 * saying where the text is not JSON.
 */
export function parseJsonArgument(text: string | undefined): unknown {
  if (text === undefined) return null;
  let value: unknown;
  try {
    // A number JSON cannot carry (1e999 parses to Infinity, which would go as null) is refused.
    value = JSON.parse(text, (_k, v) => {
      if (typeof v === "number" && !Number.isFinite(v)) throw new RangeError("a number too large");
      return v;
    });
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new ArgumentError(
      `the params are not JSON (${why}); quote text as JSON, as in '"hello"'`,
    );
  }
  return value;
}

/**
 * `weft publish`'s data: the argument as JSON when it is JSON, else the text itself as a string
 * (`weft publish news/x hello` sends "hello").
 */
export function publishData(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** A failed call or publish as the command line says it: the code, the message, where. */
export function serviceErrorText(e: ServiceError): string {
  const where = [
    ...(e.instance !== undefined ? [`from ${e.instance}`] : []),
    ...(e.status !== undefined ? [`HTTP ${e.status}`] : []),
  ];
  return `${e.code}: ${e.message}${where.length ? ` (${where.join(", ")})` : ""}`;
}

/** A call's answer as `weft call` prints it: indented JSON (binary values as base64). */
export function formatAnswer(result: unknown): string {
  return JSON.stringify(JSON.parse(payloadJson(result ?? null)), null, 2);
}

/** What came of a publish, in a line (and the nodes that did not acknowledge it). */
export function formatPublishResult(r: PublishResult): string {
  const s = (n: number, one: string) => `${n} ${one}${n === 1 ? "" : "s"}`;
  let text = `delivered to ${s(r.local, "local subscriber")} and sent to ${s(r.nodes, "node")}` +
    ` (${r.acked} acknowledged)`;
  if (r.unacked.length) text += `; no acknowledgement from ${r.unacked.join(", ")}`;
  return text;
}

/** The health of an instance in a word. */
function health(i: ServiceView["instances"][number]): string {
  if (i.healthy) return "healthy";
  if (i.reason === "node-down") return "down";
  if (i.reason === "check-failing") return "failing";
  // This node's calls failed on it repeatedly: out for a back-off, then probed back.
  if (i.reason === "ejected") return "ejected";
  // This node's calls find it silent (a call timed out, no answer since).
  return i.reason === "unanswered" ? "unanswered" : "unhealthy";
}

/**
 * The services as `weft service list` prints them: SERVICE, INSTANCES (node and health, this
 * node marked `*`), LEADER (node and address, or `-`).
 */
export function formatServiceTable(services: readonly ServiceView[]): string {
  const rows = [["SERVICE", "INSTANCES", "LEADER"]];
  for (const s of services) {
    const instances = s.instances.map((i) => `${i.node}${i.local ? "*" : ""} (${health(i)})`);
    rows.push([
      s.name,
      instances.join(", ") || "-",
      s.leader ? `${s.leader.node} (${s.leader.address})` : "-",
    ]);
  }
  return formatTable(rows);
}

/** A leader as `weft service leader` prints it: the node and its addresses. */
export function formatLeader(l: ServiceLeaderView): string {
  return [l.node, l.address, ...(l.address6 ? [l.address6] : [])].join(" ");
}

/** What {@link printEvents} needs besides the client. */
export interface PrintEventsOptions {
  /** The service group (one-per-service publishing). */
  group?: string;
  /** Events the agent holds for this reader before it drops (default the agent's). */
  queue?: number;
  /** Ends the stream (a signal, in the CLI); the function then returns. */
  signal: AbortSignal;
  /** Writes one line of output (an event). */
  out: (line: string) => void;
  /** Writes one line of news for people (subscribed, events dropped). */
  err: (line: string) => void;
}

/**
 * `weft subscribe`: prints each event of `pattern` as one NDJSON line until `signal` aborts,
 * then returns; throws when the agent refuses or ends the stream itself.
 */
export async function printEvents(
  client: ControlClient,
  pattern: string,
  opts: PrintEventsOptions,
): Promise<void> {
  const events = client.subscribe(pattern, {
    ...(opts.group !== undefined ? { group: opts.group } : {}),
    ...(opts.queue !== undefined ? { queue: opts.queue } : {}),
    signal: opts.signal,
    onReady: () => opts.err(`subscribed to ${pattern}`),
    onDropped: (n) => opts.err(`${n} events dropped so far: this reader is too slow`),
  });
  try {
    for await (const ev of events) opts.out(eventJson(ev));
  } catch (e) {
    if (opts.signal.aborted) return;
    throw e;
  }
  if (!opts.signal.aborted) throw new Error("the agent ended the subscription");
}
