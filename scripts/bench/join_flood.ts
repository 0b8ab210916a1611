/**
 * A join flooder, for the flood test and the join-under-flood benchmark: sends, as fast as the
 * socket takes them and for a bounded time, a mix of junk datagrams, MAC-less join requests
 * (type 0x10, random rest) and replays of one valid join request made with `--token` (right
 * mac1, sealed to the leader; the same bytes every time, as a captured request would be).
 * Prints what it sent as JSON.
 *
 *   deno run -A scripts/bench/join_flood.ts --to 192.0.2.1:51820 --seconds 20 [--token weft1_...]
 * @module
 */

import { LinuxUdpTransport } from "../../drivers/linux/udp.ts";
import { checkJoinToken } from "../../lib/mesh/mesh_agent.ts";
import { sealJoinRequest } from "../../lib/mesh/join/crypto.ts";
import { selectSuite } from "../../lib/crypto/select.ts";
import { generateKeyPair } from "../../lib/crypto/keys.ts";

function arg(name: string): string | undefined {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}

const to = arg("to");
const seconds = Number(arg("seconds") ?? "10");
const tokenText = arg("token");
if (!to || !(seconds > 0 && seconds <= 600)) {
  console.error("usage: join_flood.ts --to HOST:PORT [--seconds 1..600] [--token TOKEN]");
  Deno.exit(2);
}

const suite = selectSuite();
const kinds: Uint8Array[][] = [];
// Junk: random bytes whose type word is no WireGuard or join message.
kinds.push(Array.from({ length: 64 }, () => {
  const d = crypto.getRandomValues(new Uint8Array(148));
  d[0] = 0x7f;
  return d;
}));
// MAC-less join requests: the join type, random token id, ephemeral, payload and MACs.
kinds.push(Array.from({ length: 64 }, () => {
  const d = crypto.getRandomValues(new Uint8Array(300));
  d.set([0x10, 0, 0, 0]);
  return d;
}));
if (tokenText) {
  const t = checkJoinToken(tokenText, suite.dh);
  const payload = new TextEncoder().encode(JSON.stringify({
    tokenId: t.token.id,
    secret: t.token.secret,
    publicKey: generateKeyPair().publicKey,
    hostname: "replayed",
    labels: {},
    services: [],
    endpoints: [],
    time: Date.now(),
  }));
  const { message } = sealJoinRequest(
    suite.dh,
    suite.aead,
    t.leaderKey,
    t.tokenId,
    t.mac1Key,
    payload,
  );
  kinds.push([message]);
}

const transport = await LinuxUdpTransport.open({ port: 0 });
const target = transport.endpoint(to);
const sent = kinds.map(() => 0);
const end = performance.now() + seconds * 1000;
let round = 0;
while (performance.now() < end) {
  for (let i = 0; i < 256; i++) {
    const k = (round + i) % kinds.length;
    const list = kinds[k];
    transport.send(list[i % list.length], target);
    sent[k]++;
  }
  transport.flush();
  // Lets the poller run when the socket is full.
  if (++round % 16 === 0) await new Promise((r) => setTimeout(r, 0));
}
await transport.close();
const stats = transport.stats;
console.log(JSON.stringify({
  seconds,
  queued: { junk: sent[0], macless: sent[1], replay: sent[2] ?? 0 },
  sent: stats.datagramsOut,
  dropped: stats.sendDrops,
  perSecond: Math.round(stats.datagramsOut / seconds),
}));
