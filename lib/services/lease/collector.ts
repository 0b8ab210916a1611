/**
 * The service-leader leases' `/metrics` families: the leader of each service, changes, the lease
 * client's counters and, on the mesh leader, the arbiter's. The collector reads the figures
 * (metrics.ts builds them from the lease runtime) at scrape time.
 * @module
 */

import { type Collector, counter, gauge, sampleCounts } from "../../metrics/registry.ts";

/** The service-leader leases' figures (lib/services/lease_*.ts). */
export interface LeaseMetrics {
  /** Every service known here, with its leader's node name (null when none is known). */
  leaders: { service: string; node: string | null }[];
  /** Changes of a service's leader heard here, by service. */
  changes: Record<string, number>;
  /** Holders named in the lease announcements taken here, by whether they are in this node's view. */
  heard?: { inView: number; outOfView: number };
  /** This node's lease client. */
  client: {
    /** Asks and renewals sent. */
    asks: number;
    /** Leases given up. */
    releases: number;
    /** Leases stepped down from because no renewal came in time. */
    lapsed: number;
    /** Rows of announced leases dropped because the table of leaders was full. */
    rowsDropped: number;
  };
  /** The arbiter (the mesh leader only). */
  arbiter?: {
    /** Leases granted. */
    granted: number;
    /** Leases renewed. */
    renewed: number;
    /** Leases that ended, by reason (`released`, `expired`). */
    ended: Record<string, number>;
    /** Asks refused, by reason (`not-member`, `unhealthy`, `rate-limited`, ...). */
    refused: Record<string, number>;
    /** Releases of a lease the sender did not hold. */
    staleReleases: number;
    /** Grants not made because the record could not be persisted. */
    persistFailed: number;
    /** Renewals and releases not made because the shared store refused them. */
    storeFailed: number;
  };
}

const LEADERS = gauge(
  "weft_service_leaders",
  "Whether this node knows a leader of the service (1) or none (0), by service.",
  ["service"],
);
const LEADER = gauge(
  "weft_service_leader",
  "The leader of each service as this node knows it (1, labelled with its node name).",
  ["service", "node"],
);
const CHANGES = counter(
  "weft_service_leader_changes_total",
  "Changes of a service's leader heard on this node (a new holder, a new lease, or none).",
  ["service"],
);
const ASKS = counter("weft_service_lease_asks_total", "Lease asks and renewals this node sent.");
const RELEASES = counter("weft_service_lease_releases_total", "Leases this node gave up.");
const LAPSED = counter(
  "weft_service_lease_lapsed_total",
  "Leases this node stepped down from because no renewal came in time.",
);
const ROWS_DROPPED = counter(
  "weft_service_lease_rows_dropped_total",
  "Rows of announced leases dropped because this node's table of leaders was full.",
);
const HEARD = counter(
  "weft_service_lease_holders_heard_total",
  "Holders named in the lease announcements this node took, by whether the holder is in its " +
    "view (out: the view lags, or a leader told of a member the policy keeps out of it).",
  ["view"],
);
const GRANTS = counter(
  "weft_service_lease_grants_total",
  "Leases the arbiter granted (mesh leader).",
);
const RENEWALS = counter(
  "weft_service_lease_renewals_total",
  "Leases the arbiter renewed (mesh leader).",
);
const ENDS = counter(
  "weft_service_lease_ends_total",
  "Leases that ended at the arbiter, by reason: released by the holder, or expired.",
  ["reason"],
);
const REFUSALS = counter(
  "weft_service_lease_refusals_total",
  "Lease asks the arbiter refused, by reason.",
  ["reason"],
);
const STALE_RELEASES = counter(
  "weft_service_lease_stale_releases_total",
  "Releases of a lease the sender did not hold (late or repeated).",
);
const PERSIST_FAILURES = counter(
  "weft_service_lease_persist_failures_total",
  "Grants not made because the leader's state could not be written.",
);

const STORE_FAILURES = counter(
  "weft_service_lease_store_failures_total",
  "Lease renewals and releases not made because the leaders' shared store refused them.",
);

/** The lease figures `leases` gives (sorted by service); nothing while it gives undefined. */
export function leaseCollector(leases: () => LeaseMetrics | undefined): Collector {
  return (out) => {
    const l = leases();
    if (!l) return;
    const leaders = [...l.leaders].sort((a, b) =>
      a.service < b.service ? -1 : a.service > b.service ? 1 : 0
    );
    out.family(LEADERS, LEADER);
    for (const { service, node } of leaders) {
      out.sample(LEADERS, { service }, node === null ? 0 : 1);
    }
    for (const { service, node } of leaders) {
      if (node !== null) out.sample(LEADER, { service, node }, 1);
    }
    sampleCounts(out, CHANGES, "service", l.changes);
    out.sample(ASKS, {}, l.client.asks);
    out.sample(RELEASES, {}, l.client.releases);
    out.sample(LAPSED, {}, l.client.lapsed);
    out.sample(ROWS_DROPPED, {}, l.client.rowsDropped);
    if (l.heard) {
      out.sample(HEARD, { view: "in" }, l.heard.inView);
      out.sample(HEARD, { view: "out" }, l.heard.outOfView);
    }
    const a = l.arbiter;
    if (!a) return;
    out.sample(GRANTS, {}, a.granted);
    out.sample(RENEWALS, {}, a.renewed);
    sampleCounts(out, ENDS, "reason", a.ended);
    sampleCounts(out, REFUSALS, "reason", a.refused);
    out.sample(STALE_RELEASES, {}, a.staleReleases);
    out.sample(PERSIST_FAILURES, {}, a.persistFailed);
    out.sample(STORE_FAILURES, {}, a.storeFailed);
  };
}
