import assert from "node:assert/strict";
import { localClient } from "./client.ts";
import { StateDir } from "./internal.ts";

/** A TCP server that records each request's Authorization header and answers an empty list. */
function recorder(): { address: string; seen: (string | null)[]; close: () => Promise<void> } {
  const seen: (string | null)[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    seen.push(req.headers.get("authorization"));
    return Response.json({ version: 1, network: "10.0.0.0/8", nodes: [] });
  });
  return { address: `127.0.0.1:${server.addr.port}`, seen, close: () => server.shutdown() };
}

Deno.test("localClient: --status-listen gets the default directory's token only at its agent's address", async () => {
  const dir = await Deno.makeTempDir();
  const rec = recorder();
  try {
    const state = new StateDir(dir);
    const token = await state.controlToken();
    const ask = async (opts: { statusListen?: string; stateDir?: string }) => {
      const client = await localClient(opts, () => dir);
      await client.nodes();
      client.close();
      return rec.seen.at(-1);
    };
    // No agent on the default directory: its token stays home.
    assert.equal(await ask({ statusListen: rec.address }), null);
    // Its running agent recorded another address: still not sent here.
    const lock = await state.lock();
    try {
      await state.writeStatusAddress("127.0.0.1:1");
      assert.equal(await ask({ statusListen: rec.address }), null);
      // It recorded this one: the token goes to its agent.
      await state.writeStatusAddress(rec.address);
      assert.equal(await ask({ statusListen: rec.address }), `Bearer ${token}`);
    } finally {
      lock.release();
    }
    // Both named by the user: sent.
    assert.equal(await ask({ statusListen: rec.address, stateDir: dir }), `Bearer ${token}`);
  } finally {
    await rec.close();
    await Deno.remove(dir, { recursive: true });
  }
});
