/**
 * The `services` field of a mesh node's `/status`: the services the service layer lists, each
 * with its instances and the leader the leases name.
 * @module
 */

import type { ServiceLeaderStatus, ServiceStatus } from "../status/status.ts";
import type { ServiceLeader } from "./lease/runtime.ts";
import type { ServiceSummary } from "./mesh_services.ts";

/**
 * Joins the services listed (`MeshServices.list()`) with the leaders known
 * (`LeaseRuntime.leaders()`), sorted by name; a service with a leader but no instance known
 * (the view lags the lease table) is listed with none.
 */
export function servicesStatus(
  list: readonly ServiceSummary[],
  leaders: readonly ServiceLeader[],
): ServiceStatus[] {
  const byName = new Map(leaders.map((l) => [l.name, l]));
  const out: ServiceStatus[] = list.map((s) => ({
    name: s.name,
    local: s.local,
    ...(s.localHealthy !== undefined ? { localHealthy: s.localHealthy } : {}),
    instances: s.instances.map((i) => ({
      node: i.node,
      address: i.address,
      local: i.local,
      rpc: i.rpc,
      healthy: i.healthy,
      ...(i.reason ? { reason: i.reason } : {}),
    })),
    leader: null,
    ...(s.calls ? { calls: s.calls } : {}),
  }));
  const listed = new Set(list.map((s) => s.name));
  for (const l of leaders) {
    if (!listed.has(l.name)) out.push({ name: l.name, local: false, instances: [], leader: null });
  }
  for (const s of out) {
    const l = byName.get(s.name);
    if (l) s.leader = leaderStatus(l);
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** A leader as `/status` and the service routes show it. */
export function leaderStatus(l: ServiceLeader): ServiceLeaderStatus {
  return {
    node: l.member,
    address: l.address,
    ...(l.address6 ? { address6: l.address6 } : {}),
    token: l.token,
    expiresAt: new Date(l.expiresAt).toISOString(),
  };
}
