/**
 * The other end for scripts/bench/udp.ts, run as a separate process so its CPU time is not
 * charged to the transport under test. A LinuxUdpTransport that either blasts datagrams at a
 * port, or counts arrivals; prints one JSON line per step.
 *
 *   deno run -A scripts/bench/udp_peer.ts blast PORT SECONDS SIZE [on|off] -> {"sent": n}
 *   deno run -A scripts/bench/udp_peer.ts count SECONDS [on|off]   -> {"port": p} {"received": n}
 *
 * The last argument turns UDP offload (GSO for `blast`, GRO for `count`) on or off (default off,
 * the plain path).
 * @module
 */

import { LinuxUdpTransport } from "../../drivers/linux/udp.ts";

const [role, ...rest] = Deno.args;
const offload = rest.at(role === "blast" ? 3 : 1) === "on";
const t = await LinuxUdpTransport.open({
  port: 0,
  hostname: "127.0.0.1",
  gso: offload,
  gro: offload,
});
if (role === "blast") {
  const [port, seconds, size] = rest.slice(0, 3).map(Number);
  const to = t.endpoint(`127.0.0.1:${port}`);
  const data = new Uint8Array(size);
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 256; i++) t.send(data, to);
    t.flush();
  }
  console.log(JSON.stringify({ sent: t.stats.datagramsOut }));
} else if (role === "count") {
  const seconds = Number(rest[0]);
  let received = 0;
  t.start({
    datagram() {
      received++;
    },
    flush() {},
  });
  console.log(JSON.stringify({ port: t.port }));
  await new Promise((r) => setTimeout(r, seconds * 1000));
  console.log(JSON.stringify({ received }));
} else {
  throw new Error(`unknown role ${role}`);
}
await t.close();
