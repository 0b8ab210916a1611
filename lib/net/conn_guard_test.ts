/**
 * The connection guard's rules on a real loopback listener: at the cap the oldest waiting
 * connection makes room for a new one, a busy one never does, and with every slot busy the new
 * connection is closed at once; all of it counted.
 */
import assert from "node:assert/strict";
import { guardListener, type Slot } from "./conn_guard.ts";

/** Resolves when the peer closes `c` (a read ends). */
async function closedByServer(c: Deno.Conn): Promise<boolean> {
  try {
    return (await c.read(new Uint8Array(8))) === null;
  } catch {
    return true; // reset
  }
}

Deno.test("conn guard: evicts the oldest waiting connection, refuses when all are busy", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  const served: Slot[] = [];
  const release: (() => void)[] = [];
  // A connection is busy once it sent a byte, then waits for the test to let it go.
  const guard = guardListener(listener, {
    name: "test",
    maxConnections: 2,
    serve: async (slot) => {
      served.push(slot);
      const n = await slot.conn.read(new Uint8Array(1)).catch(() => null);
      if (n === null) return;
      slot.waiting = false;
      await new Promise<void>((r) => release.push(r));
    },
  });
  const conns: Deno.Conn[] = [];
  const connect = async () => {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    conns.push(c);
    return c;
  };
  const until = async (cond: () => boolean) => {
    const give = Date.now() + 60_000; // a hang guard, not a bound
    while (!cond()) {
      if (Date.now() > give) throw new Error(`stuck: ${JSON.stringify(guard.stats)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  try {
    const a = await connect();
    await until(() => guard.stats.open === 1);
    const b = await connect();
    await until(() => guard.stats.open === 2);
    await b.write(Uint8Array.of(1)); // b is busy, a only waits
    await until(() => !served[1].waiting);
    const c = await connect();
    assert.ok(await closedByServer(a), "the oldest waiting one made room");
    await until(() => guard.stats.evicted === 1 && guard.stats.accepted === 3);
    await c.write(Uint8Array.of(1));
    await until(() => !served[2].waiting);
    // Both slots busy: the newcomer is refused, the busy ones stay.
    const d = await connect();
    assert.ok(await closedByServer(d), "refused");
    assert.equal(guard.stats.rejected, 1);
    assert.equal(guard.stats.evicted, 1);
    assert.ok(!served[1].closed && !served[2].closed);
    for (const r of release) r();
    await until(() => guard.stats.open === 0);
  } finally {
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    for (const r of release) r();
    await guard.close();
  }
});
