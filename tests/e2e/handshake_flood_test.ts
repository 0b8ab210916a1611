/**
 * The handshake flood, for real: weft (TUN) as responder, a legitimate wireguard-go initiator,
 * and an attacker sending junk, MAC1-valid and (with the cookies it is sent) MAC2-valid
 * initiations at full speed from two addresses (tests/fixtures/flood_lab.ts). The legitimate
 * peer gets a session while the flood runs, and the flood costs weft little: rate limited per
 * source, it reaches the DH 20 times a second, and before each switch to under load (a tenth of
 * its threshold) at most.
 */
import assert from "node:assert/strict";
import { canBuildLabs, haveCommands } from "../fixtures/netns.ts";
import { floodRun } from "../fixtures/flood_lab.ts";

const ignore = !(await canBuildLabs()) || !(await haveCommands("wireguard-go", "wg", "ping"));

Deno.test({
  name: "handshake flood: a wireguard-go peer gets in while weft is flooded; the flood gets no DH",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    // The attacker stops by itself after 3 minutes at the latest (the test stops it sooner).
    const r = await floodRun({ responder: "weft", floodMs: 180_000 });
    const info = JSON.stringify(r);
    assert.ok(r.ms >= 0, `the legitimate peer never got through: ${info}`);
    assert.ok(r.duringFlood, `the flood had stopped before the peer got through: ${info}`);
    assert.ok(r.cookieReplies >= 1, `the peer went through a cookie round trip: ${info}`);
    assert.ok(r.flood.sent > 10_000, `the attacker flooded: ${info}`);
    const w = r.weft!;
    assert.ok(w.handshakesReceived >= 1);
    // Cookie replies were sent (to the peer and a few to the attacker), and most were refused.
    assert.ok(w.cookieRepliesSent >= 1, info);
    assert.ok(w.drops["cookie-reply-limited"] > w.cookieRepliesSent, info);
    // The attacker's MAC2-valid initiations were refused before the DH...
    assert.ok(w.drops["handshake-rate-limited"] > 0, info);
    // ...so the DHs it got (each fails: `handshake-invalid`) are those of the onsets, before
    // weft was under load (at most a tenth of its threshold of 1000 a second each: the load is
    // measured over a tenth of a second), and 20 a second of its MAC2-valid address (burst 5)
    // while under load. On a starved machine the load can lapse (it lasts a second past the last
    // busy window, as wireguard-go's), when weft or the attacker stalls; each lapse is another
    // onset. The bound allows ten onsets: a weft spending DHs on the flood while under load
    // (two thirds of its MAC1-valid initiations, hundreds of thousands) fails it by far.
    const seconds = r.flood.ms / 1000 + 1;
    const dh = w.drops["handshake-invalid"];
    console.log(`  ${dh} DHs for the flood in ${seconds.toFixed(1)} s (${r.flood.sent} sent)`);
    assert.ok(
      dh <= 10 * 100 + 5 + 20 * seconds,
      `${dh} DHs for the flood in ${seconds} s: ${info}`,
    );
  },
});
