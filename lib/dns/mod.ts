/**
 * The mesh's DNS: a zone of member names (forward, reverse, services and their leaders) and the
 * UDP and TCP server that answers from it.
 *
 * @example Serving a running mesh agent's names on a local port
 * ```ts
 * import { serveDns } from "@weft/weft/dns";
 * import type { MeshAgent } from "@weft/weft/mesh";
 *
 * declare const mesh: MeshAgent;
 * const server = await serveDns({ addresses: ["127.0.0.1"], port: 0, source: mesh });
 * console.log(`dig @127.0.0.1 -p ${server.port} ${mesh.name}.${server.zone.origin}`);
 * await server.close();
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
export type { DnsQuestion, RecordData, ResourceRecord, SoaData } from "./message.ts";
