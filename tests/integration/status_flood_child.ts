/**
 * The attacker of status_flood_test.ts, in its own process so that its thousands of sockets
 * count against its own descriptor limit, not the test runner's: opens `idle` connections that
 * send nothing and `slow` ones that send part of a request head and a header line every second,
 * prints `held N` once all are open, and holds them until killed.
 *
 *   status_flood_child.ts <host> <port> <idle> <slow>
 */
const [host, portText, idleText, slowText] = Deno.args;
const port = Number(portText);
const BATCH = 100;
const enc = new TextEncoder();
const held: Deno.Conn[] = [];

async function open(n: number, first?: Uint8Array): Promise<void> {
  for (let i = 0; i < n; i += BATCH) {
    await Promise.allSettled(
      Array.from({ length: Math.min(BATCH, n - i) }, async () => {
        const c = await Deno.connect({ hostname: host, port });
        held.push(c);
        if (first) await c.write(first).catch(() => {});
      }),
    );
  }
}

await open(Number(idleText));
const idle = held.length;
await open(Number(slowText), enc.encode(`GET /healthz HTTP/1.1\r\nHost: ${host}:${port}\r\n`));
const slow = held.slice(idle);
console.log(`held ${held.length}`);
const line = enc.encode("X-Slow: 1\r\n");
setInterval(() => {
  for (const c of slow) c.write(line).catch(() => {});
}, 1000);
