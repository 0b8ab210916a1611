/**
 * Test fixture: member records as a real fleet's look (random keys, endpoints, a label), for the
 * tests that pack, segment and digest views.
 * @module
 */

import type { Member } from "../../../members/member.ts";

/** Member `i` of a fleet in 10.6.0.0/16, with a fresh random key. */
export function fleetMember(i: number): Member {
  const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
  return {
    name: `n${i}`,
    publicKey: key,
    address: `10.6.${i >> 8}.${i & 255}`,
    endpoints: [`198.51.100.${i & 255}:${40000 + i}`],
    observed: `198.51.100.${i & 255}:${40000 + i}`,
    labels: { env: "prod" },
    role: "node",
    services: [],
    joinedAt: 1_764_000_000_000 + i,
  };
}
