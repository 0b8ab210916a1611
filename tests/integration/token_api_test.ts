/**
 * Token creation through the control API is checked as the CLI checks it: a ttl out of range or
 * labels that are not labels are refused with 400 and nothing is saved; and a token with an
 * expiry no date can hold (left by an older leader) does not break `weft token list`.
 */
import assert from "node:assert/strict";
import { MeshAgent } from "../../lib/mesh/mesh_agent.ts";
import { serveControl } from "../../lib/control/server.ts";
import { StateDir } from "../../lib/mesh/state/state.ts";
import { nullLogger } from "../../lib/log/logger.ts";
import { freePort, weft } from "../fixtures/procs.ts";

async function withLeader(
  dir: string,
  body: (ctl: { url: string; token: string; status: string }) => Promise<void>,
): Promise<void> {
  const lp = freePort();
  const mesh = await MeshAgent.start({
    role: "leader",
    stateDir: dir,
    hostname: "leader",
    userspace: true,
    listenPort: lp,
    advertise: [`127.0.0.1:${lp}`],
    dnsPort: 0,
    probes: false,
    logger: nullLogger,
  });
  const token = await new StateDir(dir).controlToken();
  const server = serveControl(mesh.agent, { listen: "127.0.0.1:0", token, mesh });
  try {
    await body({ url: `http://${server.address}`, token, status: server.address });
  } finally {
    await server.close();
    await mesh.close();
  }
}

async function post(
  ctl: { url: string; token: string },
  body: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(`${ctl.url}/v1/tokens`, {
    method: "POST",
    headers: { authorization: `Bearer ${ctl.token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: await r.json() };
}

async function listed(ctl: { url: string; token: string }): Promise<unknown[]> {
  const r = await fetch(`${ctl.url}/v1/tokens`, {
    headers: { authorization: `Bearer ${ctl.token}` },
  });
  return (await r.json()).tokens;
}

Deno.test({
  name: "token API: a ttl out of range and bad labels get 400, nothing saved; list still works",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-token-api-" });
    try {
      await withLeader(dir, async (ctl) => {
        for (const ttl of ["99999999999d", "0s", "366d", "1".repeat(400) + "d"]) {
          const r = await post(ctl, { ttl });
          assert.equal(r.status, 400, `ttl ${ttl.slice(0, 20)}: ${JSON.stringify(r.body)}`);
          assert.match(String(r.body.error), /ttl|duration/);
          assert.ok(String(r.body.error).length < 300, "the value is not echoed whole");
        }
        for (
          const labels of [
            { "bad key!!": "x" },
            { role: "v".repeat(5000) },
            { "node.weft/role": "db" },
            { role: 5 },
            ["role=db"],
          ]
        ) {
          const r = await post(ctl, { labels });
          assert.equal(r.status, 400, `${JSON.stringify(labels).slice(0, 40)}: ${r.status}`);
          assert.ok(String(r.body.error).length < 300, String(r.body.error).slice(0, 300));
        }
        // The CLI says the same and exits as other refusals do.
        const cli = await weft([
          "token",
          "create",
          "--ttl",
          "99999999999d",
          "--status-listen",
          ctl.status,
          "--state-dir",
          dir,
        ]);
        assert.equal(cli.code, 2, cli.stderr);
        assert.match(cli.stderr, /agent answered 400: ttl "99999999999d" is out of range/);
        assert.deepEqual(await listed(ctl), [], "nothing was saved");
        const ok = await post(ctl, { ttl: "365d", labels: { role: "web" } });
        assert.equal(ok.status, 201, JSON.stringify(ok.body));
        const list = await weft([
          "token",
          "list",
          "--status-listen",
          ctl.status,
          "--state-dir",
          dir,
        ]);
        assert.equal(list.code, 0, list.stderr);
        assert.match(list.stdout, /role=web/);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "token list: a token whose expiry is no date (an older leader's) does not break listing",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-token-api-" });
    try {
      await withLeader(dir, async (ctl) => {
        assert.equal((await post(ctl, { ttl: "1h" })).status, 201);
      });
      // What `ttl: "99999999999d"` left in the state of an older leader.
      const file = `${dir}/leader.json`;
      const state = JSON.parse(await Deno.readTextFile(file));
      state.tokens.push({ ...state.tokens[0], id: "0badc0ffee00", expiresAt: 8.64e18 });
      await Deno.writeTextFile(file, JSON.stringify(state));
      await withLeader(dir, async (ctl) => {
        const args = ["--status-listen", ctl.status, "--state-dir", dir];
        const list = await weft(["token", "list", ...args]);
        assert.equal(list.code, 0, list.stderr);
        assert.match(list.stdout, /0badc0ffee00 +invalid/);
        const revoke = await weft(["token", "revoke", "0badc0ffee00", ...args]);
        assert.equal(revoke.code, 0, revoke.stderr);
        const again = await weft(["token", "list", ...args]);
        assert.equal(again.code, 0, again.stderr);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
