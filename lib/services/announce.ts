/**
 * The services this node announces in its member record, from what it was configured with and
 * what the service layer knows: a service provided here (actions, or an HTTP backend) is marked
 * `rpc: true`, and one that was not configured is added on the service port
 * (`name:51823/udp`, as callers reach it); a service whose health check fails is marked
 * `healthy: false`. The record is the one way this travels: through the leader, to every
 * node's view, DNS and the rotation of calls.
 * @module
 */

import type { ServiceSpec } from "../members/member.ts";
import { SERVICES_PORT } from "../members/ports.ts";

/** The announced list; see the module docs. `configured` is left as it is. */
export function announcedServices(
  configured: readonly ServiceSpec[],
  provided: readonly string[],
  failing: ReadonlySet<string>,
): ServiceSpec[] {
  const mark = (s: ServiceSpec): ServiceSpec => {
    const { rpc: _r, healthy: _h, ...plain } = s;
    return {
      ...plain,
      ...(provided.includes(s.name) ? { rpc: true } : {}),
      ...(failing.has(s.name) ? { healthy: false } : {}),
    };
  };
  const out = configured.map(mark);
  const named = new Set(configured.map((s) => s.name));
  for (const name of provided) {
    if (!named.has(name)) out.push(mark({ name, port: SERVICES_PORT, protocol: "udp" }));
  }
  return out;
}
