/**
 * The handshake flood, for real: weft (TUN) as responder, a legitimate wireguard-go initiator,
 * and an attacker sending junk, MAC1-valid and (with the cookies it is sent) MAC2-valid
 * initiations at full speed from two addresses (tests/fixtures/flood_lab.ts). The legitimate
 * peer gets a session while the flood runs, and the flood costs weft little: rate limited per
 * source, it reaches the DH a few dozen times a second at most.
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
    // ...so the DHs it got (each fails: `handshake-invalid`) are those of the first instant,
    // before weft was under load (at most its threshold of 1000 messages), and 20 a second of
    // its MAC2-valid address after: far fewer than the flood's MAC1-valid initiations.
    // On a starved machine the attacker's own stalls can let the load state lapse (it lasts a
    // second past the last busy moment, as wireguard-go's), and each lapse admits up to the
    // threshold again: then the bound is a thousandth of the flood.
    const seconds = r.flood.ms / 1000 + 1;
    assert.ok(
      w.drops["handshake-invalid"] <= Math.max(1000 + 5 + 20 * seconds, r.flood.sent / 1000),
      `${w.drops["handshake-invalid"]} DHs for the flood in ${seconds} s: ${info}`,
    );
  },
});
