/**
 * Two members that learn of each other at the same moment (as mesh members do from one
 * membership change) both start a handshake at once. Their first pings must be answered and
 * neither side may have sent a second initiation: the crossing handshakes complete without
 * waiting for the retransmission (a rekey timeout later). The count is the proof, not a
 * wall-clock bound on the ping, which a loaded machine can stall for seconds.
 */
import assert from "node:assert/strict";
import { Agent } from "../../lib/agent/agent.ts";
import { encodeKey, generatePrivateKey } from "../../lib/crypto/keys.ts";
import { createLogger } from "../../lib/log/logger.ts";
import { HANG_GUARD_MS } from "../fixtures/netns.ts";

const quiet = createLogger({ level: "error" });

/** The agents' rekey timeout (the default is 5 s): see agentAt. */
const REKEY_TIMEOUT_MS = 30_000;

async function agentAt(address: string): Promise<Agent> {
  return await Agent.start({
    privateKey: encodeKey(generatePrivateKey()),
    addresses: [`${address}/24`],
    listenPort: 0,
    listenHost: "127.0.0.1",
    mode: "userspace",
    logger: quiet,
    // The retransmission this test says never happens comes a rekey timeout after the first
    // initiation: 5 s by default, which a starved process (load 20-30) can stall through between
    // sending an initiation and reading its answer. Longer here, so that only a crossing that
    // really needed the retransmission counts one.
    timers: { rekeyTimeout: REKEY_TIMEOUT_MS },
  });
}

Deno.test("50 fresh pairs on loopback: both ping at once, every first ping is answered", async () => {
  for (let pair = 0; pair < 50; pair++) {
    const a = await agentAt("10.77.0.1");
    const b = await agentAt("10.77.0.2");
    try {
      // Both learn of the other in the same tick, with a persistent keepalive (as mesh members
      // are set up): each sends an initiation at once, so the two handshakes cross.
      a.device.setPeer({
        publicKey: b.device.publicKey,
        endpoint: `127.0.0.1:${b.device.listenPort}`,
        allowedIps: ["10.77.0.2/32"],
        persistentKeepalive: 25,
      });
      b.device.setPeer({
        publicKey: a.device.publicKey,
        endpoint: `127.0.0.1:${a.device.listenPort}`,
        allowedIps: ["10.77.0.1/32"],
        persistentKeepalive: 25,
      });
      const [ab, ba] = await Promise.all([
        a.ping("10.77.0.2", { count: 1, timeoutMs: HANG_GUARD_MS }),
        b.ping("10.77.0.1", { count: 1, timeoutMs: HANG_GUARD_MS }),
      ]);
      assert.notEqual(ab.rtts[0], null, `pair ${pair}: a -> b lost`);
      assert.notEqual(ba.rtts[0], null, `pair ${pair}: b -> a lost`);
      const pa = a.device.peer(b.device.publicKey)!;
      const pb = b.device.peer(a.device.publicKey)!;
      const rtts = `first replies after ${ab.rtts[0]} and ${ba.rtts[0]} ms`;
      assert.equal(pa.counters.initiationsSent, 1, `pair ${pair}: a retransmitted (${rtts})`);
      assert.equal(pb.counters.initiationsSent, 1, `pair ${pair}: b retransmitted (${rtts})`);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  }
});
