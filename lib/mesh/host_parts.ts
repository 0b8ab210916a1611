/**
 * The parts that change the host, each from its section of the options: the routes this node
 * uses through routers, this node as a router, the exit node it uses, the host's resolver and the
 * Layer 2 segments. What a crashed run left on the host (forwarding rules, exit-node routing, the
 * resolver pointed here) is put back first. In userspace mode there is no host to change: only
 * the routes used (as allowed IPs) and the segments' bookkeeping remain.
 * @module
 */

import { LinuxDefaultRouting } from "../../drivers/linux/default_route.ts";
import { LinuxForwarding } from "../../drivers/linux/forwarding.ts";
import { LinuxKernelRoutes } from "../../drivers/linux/kernel_routes.ts";
import { LinuxSystemDns } from "../../drivers/linux/system_dns.ts";
import { LinuxVxlanSegments } from "../../drivers/linux/vxlan.ts";
import type { MembershipView } from "../members/member.ts";
import type { SystemDns } from "../net/system_dns.ts";
import type { PolicyRuntime } from "../policy/runtime.ts";
import type { ResolvedMesh } from "./resolve.ts";
import { MeshSegments } from "./segments/segments.ts";
import { SYSTEM_DNS_FILE, SystemDnsFile } from "./state/system_dns_file.ts";
import type { StateDir } from "./state/state.ts";
import { AcceptedRoutes, connectedNetworks } from "./subnets/accepted.ts";
import { ExitNodeUse } from "./subnets/exit.ts";
import { SubnetRouter } from "./subnets/router.ts";

/** The host parts. */
export interface HostParts {
  /** The routes this node uses through routers (their allowed IPs, the kernel's table). */
  accepted: AcceptedRoutes;
  /** This node as a router (TUN mode: with no routes it sets nothing up, `weft set` may add). */
  router: SubnetRouter | null;
  /** The exit node used; null when none can be (see `RoutesSection.exit`). */
  exit: ExitNodeUse | null;
  /** The host's resolver; null in userspace mode. */
  systemDns: SystemDns | null;
  /** The Layer 2 segments the policy puts this member in. */
  segments: MeshSegments;
}

/** What the host parts read that is not in their sections. */
export interface HostContext {
  /** This node's public key. */
  self: string;
  /** The state directory (the resolver's record). */
  state: StateDir;
  /** The view held. */
  view: () => MembershipView;
  /** The policy in force (segments are defined there). */
  policy: PolicyRuntime;
  /** Sets the peers' allowed IPs again (the routes used changed). */
  reroute: () => void;
  /** The relay carrying a member's traffic (kept off the tunnel too); absent without NAT. */
  relayOf?: (key: string) => string | null;
}

/** Makes the host parts, after putting back what a crashed run left. */
export async function makeHostParts(mesh: ResolvedMesh, ctx: HostContext): Promise<HostParts> {
  const { routes, logger } = mesh;
  const { userspace, iface, mtu } = mesh.agent;
  const { self, view } = ctx;
  const accepted = new AcceptedRoutes({
    self,
    accept: routes.accept,
    reroute: ctx.reroute,
    kernel: userspace ? null : routes.kernelRoutes ?? new LinuxKernelRoutes(iface),
    connected: () => connectedNetworks(iface),
    view,
    logger,
  });
  const router = userspace ? null : new SubnetRouter({
    forwarding: routes.forwarding ?? new LinuxForwarding(),
    iface,
    self,
    view,
    prefixes: mesh.identity.routes,
    masquerade: routes.masquerade,
    logger,
  });
  const exit = routes.exit && new ExitNodeUse({
    ...routes.exit,
    routing: routes.defaultRouting ?? new LinuxDefaultRouting(),
    iface,
    mark: routes.mark,
    view,
    logger,
    reroute: ctx.reroute,
    // The relay carrying the exit node's traffic stays off the tunnel too.
    ...(ctx.relayOf ? { relayOf: ctx.relayOf } : {}),
  });
  if (!userspace) {
    // A run that crashed left its forwarding rules and exit-node routing behind: gone before
    // anything is set up again (and when this run sets up neither).
    await (routes.forwarding ?? new LinuxForwarding()).sweep(iface).catch((e) =>
      logger.warn("removing old forwarding rules failed", { error: String(e) })
    );
    await (routes.defaultRouting ?? new LinuxDefaultRouting()).sweep(
      routes.mark,
      routes.mark,
      iface,
    )
      .catch((e) => logger.warn("removing old exit-node routing failed", { error: String(e) }));
  }
  const systemDns = userspace ? null : await restoreSystemDns(mesh, ctx.state);
  const segments = new MeshSegments({
    drivers: userspace ? null : mesh.segments.segmentDrivers ?? [new LinuxVxlanSegments({ iface })],
    self,
    mtu,
    view,
    policy: () => ctx.policy.engine.policy,
    logger,
  });
  return { accepted, router, exit, systemDns, segments };
}

/**
 * The host's resolver, pointed here with --accept-dns; what a crashed run changed is put back
 * first (and when this run does not point it here).
 */
async function restoreSystemDns(mesh: ResolvedMesh, state: StateDir): Promise<SystemDns> {
  const { logger } = mesh;
  const systemDns = mesh.dns.systemDns ?? new LinuxSystemDns({
    keep: new SystemDnsFile(state.path(SYSTEM_DNS_FILE)),
  });
  const leftover = await systemDns.restore().catch((e) => {
    // Without the record the host cannot be put back: pointing it here again would lose what it
    // was, so --accept-dns stops here; without it, the agent runs on.
    if (mesh.dns.acceptDns) {
      throw new Error(`accept-dns: ${(e instanceof Error ? e.message : String(e))}`, {
        cause: e,
      });
    }
    logger.error("putting back the host resolver failed", {
      error: e instanceof Error ? e.message : String(e),
    });
    return null;
  });
  if (leftover) {
    logger.warn("put back the host resolver a previous run left pointed at weft", {
      mode: leftover.mode,
      ...(leftover.leftAlone ? { leftAlone: leftover.leftAlone } : {}),
    });
  }
  return systemDns;
}
