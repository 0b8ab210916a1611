/**
 * Handshake-flood benchmark (root): how long a legitimate wireguard-go peer takes to get a
 * session with a responder that an attacker floods with junk and MAC1-valid initiations (see
 * tests/fixtures/flood_lab.ts).
 * `deno run -A scripts/bench/hs_flood.ts [runs] [weft|wireguard-go] [no-cookie]`: with
 * `no-cookie` the attacker sends junk and MAC1-valid initiations only, never using its cookies.
 * @module
 */

import { floodRun } from "../../tests/fixtures/flood_lab.ts";

if (import.meta.main) {
  const runs = Number(Deno.args[0] ?? 3);
  const responder = (Deno.args[1] ?? "weft") as "weft" | "wireguard-go";
  for (let i = 0; i < runs; i++) {
    const cookies = Deno.args[2] !== "no-cookie";
    const r = await floodRun({ responder, floodMs: 60_000, cookies });
    const pps = r.flood.ms ? Math.round(r.flood.sent / (r.flood.ms / 1000)) : 0;
    console.log(JSON.stringify({
      responder,
      attackerUsesCookies: cookies,
      // null: not through before the attacker stopped (60 s).
      seconds: r.ms < 0 ? null : +(r.ms / 1000).toFixed(1),
      initiations: r.initiations,
      cookieReplies: r.cookieReplies,
      duringFlood: r.duringFlood,
      floodPps: pps,
      ...(r.weft ? { weft: r.weft } : {}),
    }));
  }
}
