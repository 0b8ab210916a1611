/**
 * The agent's own `/metrics` families: build info, uptime, handshakes by result, the
 * exceptions its event subscribers threw, and peers' health transitions by state. The collector reads the agent's figures at scrape time.
 * @module
 */

import { type Collector, counter, gauge, sampleCounts } from "../metrics/registry.ts";

/** What the collector reads of an agent. */
export interface AgentFigures {
  /** weft's version. */
  version: string;
  /** The crypto suite in use. */
  crypto: string;
  /** Seconds since the agent started. */
  uptimeSeconds(): number;
  /** Handshakes: completed (either role), failed (given up or rejected), received (authentic). */
  handshakes(): { completed: number; failed: number; received: number };
  /** Exceptions thrown by subscribers of the agent's events, by source (`health`, ...). */
  listenerErrors(): Record<string, number>;
  /** Peers' health transitions so far, by the state entered (logged or not). */
  healthTransitions(): Readonly<Record<string, number>>;
}

const BUILD_INFO = gauge(
  "weft_build_info",
  "weft's version and crypto suite; the value is always 1.",
  ["version", "crypto"],
);
const UPTIME = gauge("weft_uptime_seconds", "Seconds since the agent started.");
const HANDSHAKES = counter("weft_handshakes_total", "Handshakes by result.", ["result"]);
const LISTENER_ERRORS = counter(
  "weft_listener_errors_total",
  "Exceptions thrown by event subscribers (the first of each is logged), by source.",
  ["source"],
);

const HEALTH_TRANSITIONS = counter(
  "weft_peer_health_transitions_total",
  "Peers' health transitions, by the state entered (their log lines are held to a budget).",
  ["state"],
);

/** Build info and uptime. */
export function agentInfoCollector(a: AgentFigures): Collector {
  return (out) => {
    out.sample(BUILD_INFO, { version: a.version, crypto: a.crypto }, 1);
    out.sample(UPTIME, {}, a.uptimeSeconds());
  };
}

/** Handshakes by result and the subscribers' exceptions. */
export function agentEventsCollector(a: AgentFigures): Collector {
  return (out) => {
    const h = a.handshakes();
    out.sample(HANDSHAKES, { result: "completed" }, h.completed);
    out.sample(HANDSHAKES, { result: "failed" }, h.failed);
    out.sample(HANDSHAKES, { result: "received" }, h.received);
    sampleCounts(out, LISTENER_ERRORS, "source", a.listenerErrors());
    sampleCounts(out, HEALTH_TRANSITIONS, "state", a.healthTransitions());
  };
}
