/**
 * Checks that a mesh network does not collide with networks this machine already routes:
 * overlapping routes would send overlay traffic elsewhere, or local traffic into the mesh.
 * The routing table is read from /proc (no `ip` command needed); a table that cannot be read is
 * an error, never a check that silently passes.
 * @module
 */

import { Cidr } from "./cidr.ts";
import { formatAddress } from "./ip.ts";

/** A route: its destination prefix and device. */
export interface LocalRoute {
  /** `a.b.c.d/n` or `x::/n`. */
  prefix: string;
  /** The device, when known. */
  dev?: string;
}

/** Where the kernel lists its routes (the main table for IPv4, every table for IPv6). */
export interface RouteFiles {
  /** Default `/proc/net/route`. */
  ipv4: string;
  /** Default `/proc/net/ipv6_route`. */
  ipv6: string;
}

const PROC_ROUTES: RouteFiles = { ipv4: "/proc/net/route", ipv6: "/proc/net/ipv6_route" };

/** The kernel's RTF_LOCAL: a route of the local table (this host's own addresses). */
const RTF_LOCAL = 0x80000000;

// /proc/net/route prints each address as the 32-bit word in host byte order.
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function hexV4(text: string): number[] | null {
  if (!/^[0-9A-Fa-f]{8}$/.test(text)) return null;
  const v = parseInt(text, 16);
  const bytes = [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
  return LITTLE_ENDIAN ? bytes.reverse() : bytes;
}

function prefixLength(mask: number[]): number {
  let n = 0;
  for (const b of mask) for (let bit = 7; bit >= 0; bit--) n += (b >> bit) & 1;
  return n;
}

/** The routes of a `/proc/net/route` text, default routes left out. */
export function parseProcRoute(text: string): LocalRoute[] {
  const out: LocalRoute[] = [];
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const dst = hexV4(f[1]);
    const mask = hexV4(f[7]);
    if (dst === null || mask === null) continue;
    const bits = prefixLength(mask);
    if (bits === 0) continue;
    out.push({ prefix: `${dst.join(".")}/${bits}`, dev: f[0] });
  }
  return out;
}

/**
 * The routes of a `/proc/net/ipv6_route` text, leaving out default routes, multicast and the
 * local table's routes to this host's own addresses (as `ip -6 route` does).
 */
export function parseProcIpv6Route(text: string): LocalRoute[] {
  const out: LocalRoute[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || !/^[0-9a-f]{32}$/i.test(f[0])) continue;
    const bits = parseInt(f[1], 16);
    const flags = parseInt(f[8], 16);
    if (!(bits > 0 && bits <= 128) || (flags & RTF_LOCAL) !== 0) continue;
    if (f[0].slice(0, 2).toLowerCase() === "ff") continue;
    const dst = Uint8Array.from(f[0].match(/../g)!, (h) => parseInt(h, 16));
    out.push({ prefix: `${formatAddress(dst)}/${bits}`, dev: f[9] });
  }
  return out;
}

async function readRoutes(family: 4 | 6, files: RouteFiles): Promise<LocalRoute[]> {
  const file = family === 4 ? files.ipv4 : files.ipv6;
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new Error(
      `cannot check the network against this machine's routes: reading ${file} failed: ${e}`,
      { cause: e },
    );
  }
  return family === 4 ? parseProcRoute(text) : parseProcIpv6Route(text);
}

/**
 * A local route or interface network that overlaps `network`, or null. Throws when the routing
 * table or the interfaces cannot be read: an unchecked network must not pass as a clean one.
 */
export async function overlappingRoute(
  network: string,
  ignoreDevice?: string,
  files: RouteFiles = PROC_ROUTES,
): Promise<string | null> {
  const net = Cidr.parse(network);
  const candidates = await readRoutes(net.family, files);
  let interfaces: Deno.NetworkInterfaceInfo[];
  try {
    interfaces = Deno.networkInterfaces();
  } catch (e) {
    throw new Error(
      `cannot check the network against this machine's interfaces: ${e}`,
      { cause: e },
    );
  }
  for (const i of interfaces) {
    if ((i.family === "IPv4") === (net.family === 4)) {
      candidates.push({ prefix: i.cidr, dev: i.name });
    }
  }
  for (const c of candidates) {
    if (ignoreDevice && c.dev === ignoreDevice) continue;
    const other = Cidr.tryParse(c.prefix);
    if (!other || other.family !== net.family) continue;
    if (/^127\.|^::1\/|^fe80:/.test(c.prefix)) continue;
    if (net.overlaps(other)) return `${c.prefix}${c.dev ? ` (dev ${c.dev})` : ""}`;
  }
  return null;
}
