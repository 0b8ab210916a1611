/**
 * A service's instances as this node sees them: the members whose record lists the service,
 * each with whether calls may go to it. An instance is out of rotation while its node is down
 * (this node's health of that peer), while its node says its health check of the service
 * fails (`healthy: false` in the record), or while this node's calls find it silent (it let a
 * call time out and has not answered since: `unanswered`, see suspects.ts), or while this node's
 * calls to it failed repeatedly (`ejected`, for a back-off: see outliers.ts).
 * @module
 */

import type { HealthState } from "../health/state.ts";
import type { MembershipView, ServiceSpec } from "../members/member.ts";

/** Why an instance is out of rotation. */
export type OutOfRotation = "node-down" | "check-failing" | "unanswered" | "ejected";

/** One member offering a service. */
export interface ServiceInstance {
  /** The service. */
  service: string;
  /** The member's name. */
  node: string;
  /** The member's public key. */
  publicKey: string;
  /** The member's overlay address. */
  address: string;
  /** True for this node. */
  local: boolean;
  /** True when the member answers calls of the service (it provides actions). */
  rpc: boolean;
  /** True when calls may go to it now. */
  healthy: boolean;
  /** Why it is not healthy. */
  reason?: OutOfRotation;
  /** The service as the member announces it (the first entry of that name). */
  spec: ServiceSpec;
}

/** What the instances are judged with. */
export interface InstanceContext {
  /** This node's public key. */
  self: string;
  /** This node's health of a peer (undefined: not known). */
  peerHealth: (publicKey: string) => HealthState | undefined;
  /** Whether this node's calls find the member at this overlay address silent (default: none). */
  unanswered?: (address: string) => boolean;
  /** Whether this node's calls ejected the member at this overlay address (default: none). */
  ejected?: (address: string) => boolean;
}

/** Every member offering `service`, sorted by node name. */
export function serviceInstances(
  view: MembershipView,
  service: string,
  ctx: InstanceContext,
): ServiceInstance[] {
  const out: ServiceInstance[] = [];
  for (const m of view.members) {
    // A node that left on purpose offers nothing until it says hello again.
    if (m.offline) continue;
    const specs = m.services.filter((s) => s.name === service);
    if (specs.length === 0) continue;
    const local = m.publicKey === ctx.self;
    const rpc = specs.some((s) => s.rpc === true);
    const failing = specs.some((s) => s.healthy === false);
    const down = !local && ctx.peerHealth(m.publicKey) === "down";
    const silent = !local && ctx.unanswered?.(m.address) === true;
    // This node's own is ejected under the address "" (its calls to itself go no network way).
    const ejected = ctx.ejected?.(local ? "" : m.address) === true;
    const reason: OutOfRotation | undefined = down
      ? "node-down"
      : failing
      ? "check-failing"
      : silent
      ? "unanswered"
      : ejected
      ? "ejected"
      : undefined;
    out.push({
      service,
      node: m.name,
      publicKey: m.publicKey,
      address: m.address,
      local,
      rpc,
      healthy: reason === undefined,
      ...(reason ? { reason } : {}),
      spec: specs.find((s) => s.rpc === true) ?? specs[0],
    });
  }
  return out.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
}

/** The names of every service some member announces, sorted. */
export function serviceNames(view: MembershipView): string[] {
  const names = new Set<string>();
  for (const m of view.members) for (const s of m.services) names.add(s.name);
  return [...names].sort();
}
