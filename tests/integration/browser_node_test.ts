/**
 * The browser build as a page uses it, in Deno (which has the standard `WebSocket`): a real
 * `weft --leader` and a real `weft --join` member `n1` offering `echo` (an HTTP backend in this
 * process), on loopback, userspace; then two browser nodes join with a token over a WebSocket:
 * one from the entry's sources (`lib/browser/mod.ts`), one from the built bundle
 * (`scripts/build_browser.ts`, the file a page imports). Each calls `echo` on n1 (through the
 * leader as a relay: its only way out is the socket), receives an event n1 publishes to a topic
 * it subscribed to, and publishes one that a subscriber on n1 receives; closed, it leaves.
 *
 * The WebSocket is the leader's own, served on its TCP transport's port (drivers/tcp_ws.ts); the
 * leader's `weft status --json` then says each page's path is carried over `websocket`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { freePort, HOST_AGENT_FLAGS, weft } from "../fixtures/procs.ts";
import { eventually, HANG_GUARD_MS } from "../fixtures/netns.ts";
import { loopbackArgs, spawnWeft, untilServing, type WeftAgent } from "../fixtures/weft_agent.ts";
import * as fromSources from "../../lib/browser/mod.ts";
import { buildBrowser, platformReferences } from "../../scripts/build_browser.ts";
import { selfCommand } from "../../lib/demo/self.ts";

const [CMD, ...PRE] = selfCommand();

/** Where the nodes' WebSocket is: the leader's TCP port, which serves it too. */
function WS_URL(leaderTcpPort: number): string {
  return `ws://127.0.0.1:${leaderTcpPort}`;
}

const ROOT = new URL("../..", import.meta.url).pathname;

Deno.test({
  name: "browser node: joins over a WebSocket with a token, calls, subscribes and publishes",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-browser-node-" });
    // The bundle a page imports, built first: it must hold no Deno and no node: import.
    const bundlePath = join(dir, "weft.browser.js");
    const js = await buildBrowser(ROOT, bundlePath);
    assert.deepEqual(platformReferences(js), []);
    const fromBundle: typeof fromSources = await import(`file://${bundlePath}`);

    const backend = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (req) => Response.json({ echoed: await req.json(), from: "n1" }),
    );
    const lport = freePort();
    const leader = spawnWeft([
      "--leader",
      ...loopbackArgs(`${dir}/leader`, "boss", lport),
      ...HOST_AGENT_FLAGS,
      "--cidr",
      "10.214.0.0/24",
    ]);
    const agents: WeftAgent[] = [leader];
    const onLeader = (...a: string[]) =>
      weft([...a, "--status-listen", leader.status, "--state-dir", `${dir}/leader`]);
    let n1: WeftAgent | null = null;
    const nodes: fromSources.BrowserNode[] = [];
    let sub: Deno.ChildProcess | null = null;
    try {
      await untilServing(leader);
      const token = (await onLeader("token", "create", "--uses", "3")).stdout.trim();
      assert.match(token, /\S/);
      n1 = spawnWeft([
        "--join",
        token,
        ...loopbackArgs(`${dir}/n1`, "n1"),
        ...HOST_AGENT_FLAGS,
        "--service-http",
        `echo=http://127.0.0.1:${backend.addr.port}`,
      ]);
      agents.push(n1);
      await untilServing(n1);
      const onN1 = (...a: string[]) =>
        weft([...a, "--status-listen", n1!.status, "--state-dir", `${dir}/n1`]);

      // A subscriber on n1, for what the pages publish.
      sub = new Deno.Command(CMD, {
        args: [
          ...PRE,
          "subscribe",
          "from-page/>",
          "--status-listen",
          n1.status,
          "--state-dir",
          `${dir}/n1`,
        ],
        stdout: "piped",
        stderr: "null",
        stdin: "null",
      }).spawn();
      const heard: { topic: string; data: unknown; publisher: string }[] = [];
      const dec = new TextDecoder();
      let buf = "";
      const reading = sub.stdout.pipeTo(
        new WritableStream({
          write: (c) => {
            buf += dec.decode(c, { stream: true });
            let nl;
            while ((nl = buf.indexOf("\n")) >= 0) {
              heard.push(JSON.parse(buf.slice(0, nl)));
              buf = buf.slice(nl + 1);
            }
          },
        }),
      ).catch(() => {});

      for (const [i, lib] of [fromSources, fromBundle].entries()) {
        const node = await lib.joinMesh({
          token,
          url: WS_URL(lport),
          hostname: `page${i}`,
          syncIntervalMs: 1000,
        });
        nodes.push(node);
        assert.match(node.address, /^10\.214\.0\.\d+$/);
        assert.equal(node.status().via, WS_URL(lport));

        // echo is on n1 only: the call goes to n1 through the leader (the page's one way out).
        let answer: unknown = null;
        const called = await eventually(async () => {
          try {
            answer = await node.call("echo/say", { n: i }, { timeoutMs: 3000 });
            return true;
          } catch {
            return false;
          }
        }, HANG_GUARD_MS);
        assert.ok(called, `no answer from echo: ${JSON.stringify(node.status())}`);
        assert.deepEqual(answer, { echoed: { n: i }, from: "n1" });
        const n1Seen = node.status().members.find((m) => m.name === "n1");
        assert.equal(n1Seen?.session, true, "a WireGuard session with n1 (relayed)");

        // Subscribed on the page; n1 publishes until the page has heard it.
        const news = node.subscribe("news/*");
        const first = news[Symbol.asyncIterator]().next();
        let event: fromSources.ServiceEvent | null = null;
        void first.then((r) => event = r.value);
        assert.ok(
          await eventually(async () => {
            if (event) return true;
            await onN1("publish", `news/n${i}`, `{"hello": ${i}}`);
            return event !== null;
          }, HANG_GUARD_MS),
          "the page heard n1's event",
        );
        assert.equal(event!.topic, `news/n${i}`);
        assert.deepEqual(event!.data, { hello: i });
        news.close();

        // Published on the page, heard on n1.
        assert.ok(
          await eventually(async () => {
            await node.publish(`from-page/${node.name}`, { i });
            return heard.some((h) => h.topic === `from-page/${node.name}`);
          }, HANG_GUARD_MS),
          "n1's subscriber heard the page",
        );
        const got = heard.find((h) => h.topic === `from-page/${node.name}`)!;
        assert.deepEqual(got.data, { i });
        assert.equal(got.publisher, node.name);
      }
      // The leader lists the pages, each reached over its WebSocket (status's transport, and the
      // table's path); closed, each says bye and is offline.
      const listed = await onLeader("status", "--json");
      type Peer = { name: string; path: string; transport?: string; proxied?: boolean };
      const peers: Peer[] = JSON.parse(listed.stdout).peers;
      for (const n of nodes) {
        const p = peers.find((x) => x.name === n.name);
        assert.ok(p, `${n.name} in ${peers.map((x) => x.name)}`);
        assert.equal(p.path, "direct", JSON.stringify(p));
        assert.equal(p.transport, "websocket", JSON.stringify(p));
        assert.equal(p.proxied, undefined, JSON.stringify(p));
      }
      const table = (await onLeader("status")).stdout;
      for (const n of nodes) {
        assert.match(table, new RegExp(`^${n.name}\\s.*direct/websocket`, "m"), table);
      }
      for (const n of nodes.splice(0)) await n.close();
      sub.kill("SIGTERM");
      await sub.status;
      await reading;
      sub = null;
    } finally {
      for (const n of nodes) await n.close().catch(() => {});
      if (sub) {
        sub.kill("SIGTERM");
        await sub.status;
      }
      for (const a of agents) await a.stop();
      await backend.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
