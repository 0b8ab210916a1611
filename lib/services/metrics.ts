/**
 * The service layer's `/metrics` families: calls made and served (latency histograms by
 * service, action and outcome), events, and drops. The collector reads the mesh's service
 * figures at scrape time.
 * @module
 */

import {
  type Collector,
  counter,
  histogram,
  type MetricSink,
  sampleCounts,
} from "../metrics/registry.ts";
import type { HistogramSnapshot } from "../health/histogram.ts";
import type { ResilienceMetrics } from "./resilience_stats.ts";

/** One series of service calls: a service, an action, an outcome and the calls' latencies. */
export interface ServiceCallSeries {
  /** The service. */
  service: string;
  /** The action. */
  action: string;
  /** `ok`, or the error code (`timeout`, `remote-error`, ...). */
  outcome: string;
  /** Latencies in seconds; its count is the number of calls. */
  histogram: HistogramSnapshot;
}

/** The service layer's figures (lib/services). */
export interface ServiceMetrics {
  /** Calls this node made, by service, action and outcome. */
  calls: ServiceCallSeries[];
  /** Calls this node served, by service, action and outcome. */
  served: ServiceCallSeries[];
  /** Events this node published, sent to other nodes, and handed to its own subscribers. */
  events: { published: number; sent: number; delivered: number };
  /** Events dropped, by reason (a slow subscriber's full queue, no ack after resends, ...). */
  eventDrops: Record<string, number>;
  /** Service messages dropped on the wire, by reason. */
  drops: Record<string, number>;
  /** Calls this node refused by the policy's call rules, by service and rule. */
  denied?: { service: string; rule: string; count: number }[];
  /** Ejections, retries and retry budget refusals by service (absent: none counted). */
  resilience?: ResilienceMetrics;
}

const CALL = ["service", "action", "outcome"] as const;
const REQUESTS = histogram(
  "weft_service_request_duration_seconds",
  "Service calls this node made, by service, action and outcome (ok or the error code), and " +
    "how long they took (retries included).",
  CALL,
);
const SERVED = histogram(
  "weft_service_served_duration_seconds",
  "Service calls this node served, by service, action and outcome, and how long they took.",
  CALL,
);
const PUBLISHED = counter("weft_service_events_published_total", "Events published on this node.");
const SENT = counter(
  "weft_service_events_sent_total",
  "Events sent to other nodes (one per node).",
);
const DELIVERED = counter(
  "weft_service_events_delivered_total",
  "Events handed to subscribers on this node (one per subscriber).",
);
const EVENTS_DROPPED = counter(
  "weft_service_events_dropped_total",
  "Events dropped, by reason: slow-subscriber (its queue was full), unacked (no node took " +
    "it after resends), duplicate (a resend already delivered).",
  ["reason"],
);
const DROPS = counter(
  "weft_service_drops_total",
  "Service messages dropped on the wire, by reason.",
  ["reason"],
);

// Calls refused by the policy (authorize.ts): a family of its own, beside the served ones.
const DENIED = counter(
  "weft_service_calls_denied_total",
  "Service calls this node refused by the policy's call rules, by service and the rule that " +
    "refused them ((default) when no rule matched).",
  ["service", "rule"],
);

/** The service figures `services` gives; nothing while it gives undefined (no service layer). */
export function servicesCollector(services: () => ServiceMetrics | undefined): Collector {
  return (out) => {
    const s = services();
    if (!s) return;
    out.family(REQUESTS, SERVED);
    for (const { service, action, outcome, histogram: h } of s.calls) {
      out.histogram(REQUESTS, { service, action, outcome }, h);
    }
    for (const { service, action, outcome, histogram: h } of s.served) {
      out.histogram(SERVED, { service, action, outcome }, h);
    }
    out.sample(PUBLISHED, {}, s.events.published);
    out.sample(SENT, {}, s.events.sent);
    out.sample(DELIVERED, {}, s.events.delivered);
    sampleCounts(out, EVENTS_DROPPED, "reason", s.eventDrops);
    sampleCounts(out, DROPS, "reason", s.drops);
    out.family(DENIED);
    for (const { service, rule, count } of s.denied ?? []) {
      out.sample(DENIED, { service, rule }, count);
    }
    if (s.resilience) resilienceSamples(out, s.resilience);
  };
}

// Calls surviving bad instances (issue 48): ejections, retries, budget refusals.
const EJECTIONS = counter(
  "weft_service_ejections_total",
  "Instances this node's calls took out of the rotation for failing repeatedly, by service.",
  ["service"],
);
const RETRIES = counter(
  "weft_service_retries_total",
  "Retries this node's calls made (attempts after the first), by service.",
  ["service"],
);
const BUDGET_REFUSALS = counter(
  "weft_service_retry_budget_refusals_total",
  "Retries the retry budget refused (the call failed with its last error), by service.",
  ["service"],
);

function resilienceSamples(out: MetricSink, r: ResilienceMetrics): void {
  sampleCounts(out, EJECTIONS, "service", r.ejections);
  sampleCounts(out, RETRIES, "service", r.retries);
  sampleCounts(out, BUDGET_REFUSALS, "service", r.budgetRefusals);
}
