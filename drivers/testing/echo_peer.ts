/**
 * An echo peer for namespace tests: run in a namespace (`ip netns exec NS deno run -A
 * --unstable-net drivers/testing/echo_peer.ts PORT`), it echoes TCP connections and UDP datagrams
 * on PORT (IPv4 and IPv6) and prints `ready` once it listens. It runs until killed.
 * @module
 */

const port = Number(Deno.args[0] ?? 7100);
const tcp = Deno.listen({ hostname: "::", port });
const udp = Deno.listenDatagram({ hostname: "::", port, transport: "udp" });
console.log("ready");

(async () => {
  for await (const conn of tcp) {
    conn.setNoDelay(true);
    conn.readable.pipeTo(conn.writable).catch(() => {});
  }
})();

for (;;) {
  const [data, from] = await udp.receive();
  await udp.send(data, from);
}
