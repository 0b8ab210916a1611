/**
 * What a member's hello changes of its record, parsed once: each field checked as `--advertise`
 * and the join check it; a malformed field is ignored (the record keeps its own), the hello still
 * counts as one. What it claimed that no grant allows is counted and logged (once a minute per
 * node).
 * @module
 */

import type { Logger } from "../../log/logger.ts";
import { splitLabels } from "../../members/labels.ts";
import type { Member } from "../../members/member.ts";
import { runIdOf } from "../../members/run_id.ts";
import {
  validEndpoints,
  validLabels,
  validRelay,
  validServices,
  validTcpPort,
} from "../../members/validate.ts";
import { RateLimiter } from "../../protocol/ratelimiter.ts";
import { validRouteList } from "../../routes/prefixes.ts";
import type { Hello } from "./hello_rate.ts";
import type { MemberUpdate } from "./member_edits.ts";

/** A hello's update to its member's record, and the label keys it claimed that only grants set. */
export interface HelloUpdate {
  /** The update (the member is online again). */
  update: MemberUpdate;
  /** Keys of labels outside `node.weft/` the node claimed for itself: dropped, to be counted. */
  claimed: string[];
}

/**
 * The update `msg` makes to its member's record; `observed`: the endpoint the leader saw it come
 * from over UDP (null: none), first of its endpoints.
 */
export function helloUpdate(msg: Hello, observed: string | null): HelloUpdate {
  const advertised = validEndpoints(msg.endpoints) ?? [];
  const services = validServices(msg.services) ?? undefined;
  const labels = msg.labels === undefined ? null : validLabels(msg.labels);
  const own = labels ? splitLabels(labels) : null;
  // LAN candidates are held to --advertise's rules too; a hello without the field (an older
  // node) leaves the record's as they are.
  const lan = msg.lan === undefined ? undefined : validEndpoints(msg.lan) ?? undefined;
  // No field is off (an older node has neither); a malformed one leaves the record's.
  const relay = validRelay(msg.relay);
  const tcpPort = validTcpPort(msg.tcpPort);
  // No field: no routes offered; a malformed one leaves the record's.
  const routes = msg.routes === undefined ? [] : validRouteList(msg.routes);
  const update: MemberUpdate = {
    endpoints: [...(observed ? [observed] : []), ...advertised],
    // Kept apart from what the node claims: exit-node users keep only it off the tunnel.
    observed,
    services,
    nodeLabels: own?.asserted,
    lan,
    ...(relay !== null ? { relay: relay === true } : {}),
    ...(tcpPort !== null ? { tcpPort: tcpPort ?? null } : {}),
    ...(routes !== null ? { advertisedRoutes: routes } : {}),
    // A malformed run id is none: the record keeps the one it has.
    run: runIdOf(msg.r),
    online: true,
  };
  return { update, claimed: own ? Object.keys(own.granted) : [] };
}

/** Counts and logs (once a minute per node) what members' hellos claimed that no grant allows. */
export class HelloRefusals {
  readonly #logger: Logger;
  #labelsDropped = 0;
  // One log line per member a minute for labels it claimed and may not set.
  readonly #labelLog = new RateLimiter({ perSecond: 1 / 60, burst: 1, maxEntries: 4096 });
  readonly #serviceLog = new RateLimiter({ perSecond: 1 / 60, burst: 1, maxEntries: 4096 });

  /** Nothing refused yet; refusals are logged to `logger`. */
  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Labels that nodes claimed outside `node.weft/` in hellos, dropped. */
  get labelsDropped(): number {
    return this.#labelsDropped;
  }

  /** Counts (and logs, rate-limited) labels a node claimed that only the leader may grant. */
  labels(member: Member, keys: string[]): void {
    if (keys.length === 0) return;
    this.#labelsDropped += keys.length;
    if (!this.#labelLog.allow(member.publicKey)) return;
    this.#logger.warn("labels a node claimed for itself were dropped", {
      name: member.name,
      keys: keys.slice(0, 8).join(","),
      dropped: this.#labelsDropped,
    });
  }

  /**
   * Logs (once a minute per node) service names a node offers that no grant allows it;
   * `refused`: the service offers left out so far.
   */
  services(member: Member, names: string[], refused: number): void {
    if (names.length === 0 || !this.#serviceLog.allow(member.publicKey)) return;
    this.#logger.warn("services a node offers without a grant were left out", {
      name: member.name,
      services: names.slice(0, 8).join(","),
      refused,
    });
  }
}
