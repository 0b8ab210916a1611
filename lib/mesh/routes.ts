/**
 * Checks that a mesh network does not collide with networks this machine already routes:
 * overlapping routes would send overlay traffic elsewhere, or local traffic into the mesh.
 * @module
 */

import { Cidr } from "../net/cidr.ts";

/** A local route or interface network that overlaps `network`, or null. Linux `ip` first. */
export async function overlappingRoute(
  network: string,
  ignoreDevice?: string,
): Promise<string | null> {
  const net = Cidr.parse(network);
  const candidates: { prefix: string; dev?: string }[] = [];
  try {
    const out = await new Deno.Command("ip", {
      args: ["-j", net.family === 6 ? "-6" : "-4", "route", "show"],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (out.success) {
      for (
        const r of JSON.parse(new TextDecoder().decode(out.stdout)) as {
          dst: string;
          dev?: string;
        }[]
      ) {
        if (r.dst && r.dst !== "default") candidates.push({ prefix: r.dst, dev: r.dev });
      }
    }
  } catch { /* no ip command: interfaces only */ }
  try {
    for (const i of Deno.networkInterfaces()) {
      if ((i.family === "IPv4") === (net.family === 4)) {
        candidates.push({ prefix: i.cidr, dev: i.name });
      }
    }
  } catch { /* no permission */ }
  for (const c of candidates) {
    if (ignoreDevice && c.dev === ignoreDevice) continue;
    const other = Cidr.tryParse(c.prefix);
    if (!other || other.family !== net.family) continue;
    if (/^127\.|^::1|^fe80:/.test(c.prefix)) continue;
    if (net.overlaps(other)) return `${c.prefix}${c.dev ? ` (dev ${c.dev})` : ""}`;
  }
  return null;
}
