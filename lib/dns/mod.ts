/**
 * The mesh's DNS: a zone of member names (forward, reverse, services and their leaders) and the
 * UDP and TCP server that answers from it.
 *
 * @example Serving a mesh agent's names on a local port, and asking it
 * ```ts run
 * import { MeshAgent } from "@weft/weft/mesh";
 * import { serveDns } from "@weft/weft/dns";
 *
 * const mesh = await MeshAgent.start({
 *   role: "leader",
 *   hostname: "hq",
 *   stateDir: await Deno.makeTempDir(),
 *   userspace: true,
 *   listenPort: 52820,
 *   dnsPort: 0, // not its own server (default: 15353): this program serves one
 *   lanDiscovery: false,
 * });
 * const server = await serveDns({ addresses: ["127.0.0.1"], port: 0, source: mesh });
 * const name = `${mesh.name}.${server.zone.origin}`; // dig @127.0.0.1 -p <port> hq.overlay.local
 * console.log(name); // prints: hq.overlay.local
 * const answer = await Deno.resolveDns(name, "A", {
 *   nameServer: { ipAddr: "127.0.0.1", port: server.port },
 * });
 * console.log(answer); // prints: [ "10.200.0.1" ]
 * await server.close();
 * await mesh.close();
 * ```
 * @module
 */

export { type DnsServer, type DnsServerOptions, type DnsUdp, serveDns } from "./server.ts";
export {
  DnsZone,
  type QueryContext,
  type ZoneAnswer,
  type ZoneOptions,
  type ZoneSource,
} from "./zone.ts";
export type { DnsStats } from "./stats.ts";
export { type DnsRoute, parseDnsRoute } from "../net/dns_route.ts";
export type { DnsQuestion, RecordData, ResourceRecord, SoaData } from "./message.ts";

// The types the exports above refer to, so that this entry documents (and lints) alone.
export type { HealthState } from "../health/state.ts";
export type { LogFields, Logger, LogLevel } from "../log/logger.ts";
export type { Member, MemberGrants, MembershipView, ServiceSpec } from "../members/member.ts";
export type { ListenerStats } from "../net/conn_guard.ts";
