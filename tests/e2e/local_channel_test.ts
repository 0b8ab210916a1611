/**
 * The local control channel (issue 44, finding 2), with the real CLI in namespaces:
 *
 * - with the agent down, an unprivileged user listening on 127.0.0.1:51880 (the default the CLI
 *   falls back to) gets no control token from `weft node list`; with the agent up the commands
 *   work through its socket;
 * - `weft token rotate-control` makes the old token stop working at once;
 * - a status server on the node's own overlay address starts (it used to fail with "Cannot
 *   assign requested address");
 * - the read-only monitoring token reads /status and /metrics and cannot create a join token.
 */
import assert from "node:assert/strict";
import { canBuildLabs, eventually, HANG_GUARD_MS, haveCommands, Lab } from "../fixtures/netns.ts";
import { type LabProc, startMeshNode, waitUp, weftIn } from "../fixtures/mesh_lab.ts";

// The listener runs as `nobody`: the system's python, not one under /root that nobody can read.
const PYTHON = "/usr/bin/python3";
const ignore = !(await canBuildLabs()) || !(await haveCommands("curl", "setpriv", PYTHON));

const OPTS = { cidr: "10.231.7.0/24", ifPrefix: "lc", extra: ["--no-lan-discovery"] };

/**
 * A TCP listener on 127.0.0.1:51880 that records what clients send (the request head, and a
 * body if one came with it) and answers each with an empty node list; prints READY once bound.
 */
const LISTENER = `
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 51880)); s.listen(8)
print("READY", flush=True)
while True:
    c, _ = s.accept(); c.settimeout(5); data = b""
    try:
        while b"\\r\\n\\r\\n" not in data:
            more = c.recv(65536)
            if not more: break
            data += more
    except Exception: pass
    print("GOT " + repr(data), flush=True)
    body = b'{"version":1,"network":"10.0.0.0/8","nodes":[]}'
    c.sendall(b"HTTP/1.1 200 OK\\r\\ncontent-type: application/json\\r\\nconnection: close\\r\\n" +
              b"content-length: " + str(len(body)).encode() + b"\\r\\n\\r\\n" + body)
    c.close()
`;

async function withLab(fn: (lab: Lab, dir: string) => Promise<void>): Promise<void> {
  const lab = await Lab.create(["lead"]);
  const dir = await Deno.makeTempDir({ prefix: "weft-local-channel-" });
  try {
    await fn(lab, dir);
  } finally {
    await lab.destroy();
    await Deno.remove(dir, { recursive: true });
  }
}

/** `curl` in the lab host: the HTTP status code and the body. */
async function curl(lab: Lab, ...args: string[]): Promise<{ code: number; body: string }> {
  const r = await lab.exec("lead", "curl", "-s", "-w", "\n%{http_code}", ...args);
  const at = r.stdout.lastIndexOf("\n");
  return { code: Number(r.stdout.slice(at + 1)), body: r.stdout.slice(0, at) };
}

const bearer = (token: string) => ["-H", `Authorization: Bearer ${token}`];
const readToken = async (dir: string, name: string) =>
  (await Deno.readTextFile(`${dir}/lead/${name}`)).trim();

/** Starts the leader in the lab with `args` and waits until its commands answer. */
async function startLeader(lab: Lab, dir: string, args: string[]): Promise<LabProc> {
  const leader = startMeshNode(lab, { ...OPTS, dir }, "lead", [
    "--leader",
    "--advertise",
    "192.0.2.1:51820",
    ...args,
  ]);
  await waitUp(lab, "lead", dir, leader);
  return leader;
}

const LAB_TEST = { ignore, sanitizeOps: false, sanitizeResources: false };

Deno.test({
  ...LAB_TEST,
  name: "local channel: with the agent down, a user listening on 127.0.0.1:51880 gets no token",
  fn: () =>
    withLab(async (lab, dir) => {
      const leader = await startLeader(lab, dir, ["--userspace"]);
      const list = await weftIn(lab, "lead", dir, "node", "list", "--json");
      assert.equal(list.code, 0, list.stderr);
      assert.equal(JSON.parse(list.stdout).nodes[0].name, "lead");
      const token = await readToken(dir, "control.token");

      // The agent stops; an unprivileged user takes its port.
      await lab.stop(leader.child);
      const spy = lab.spawn("lead", "setpriv", [
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        PYTHON,
        "-u",
        "-c",
        LISTENER,
      ]);
      let exited = false;
      spy.child.status.then(() => exited = true);
      assert.ok(
        await eventually(
          () => Promise.resolve(exited || spy.output().includes("READY")),
          HANG_GUARD_MS,
        ),
      );
      assert.ok(!exited, spy.output());
      const down = await weftIn(lab, "lead", dir, "node", "list");
      const got = spy.output();
      await lab.stop(spy.child);
      // It did go there (the default address, the agent being down), with nothing to steal.
      assert.match(got, /GOT b'GET \/v1\/nodes HTTP\/1\.1/, `${got}\n${down.stderr}`);
      assert.ok(!got.includes(token), `the control token reached the listener:\n${got}`);
      assert.doesNotMatch(got, /authorization/i, `a credential reached the listener:\n${got}`);
    }),
});

Deno.test({
  ...LAB_TEST,
  name: "local channel: weft token rotate-control makes the old token stop working at once",
  fn: () =>
    withLab(async (lab, dir) => {
      const leader = await startLeader(lab, dir, ["--userspace"]);
      const nodesUrl = "http://127.0.0.1:51880/v1/nodes";
      const old = await readToken(dir, "control.token");
      assert.equal((await curl(lab, ...bearer(old), nodesUrl)).code, 200);
      const rot = await weftIn(lab, "lead", dir, "token", "rotate-control");
      assert.equal(rot.code, 0, rot.stdout + rot.stderr);
      const now = await readToken(dir, "control.token");
      assert.notEqual(now, old);
      assert.equal((await curl(lab, ...bearer(old), nodesUrl)).code, 401, "the old token");
      assert.equal((await curl(lab, ...bearer(now), nodesUrl)).code, 200, "the new one");
      // The commands, over the socket, never needed it.
      const tok = await weftIn(lab, "lead", dir, "token", "create", "--ttl", "1h");
      assert.equal(tok.code, 0, tok.stderr);
      // Rotated while the agent is stopped: it starts with the new one.
      await lab.stop(leader.child);
      const again = await weftIn(lab, "lead", dir, "token", "rotate-control");
      assert.equal(again.code, 0, again.stderr);
      const third = await readToken(dir, "control.token");
      assert.notEqual(third, now);
      await startLeader(lab, dir, ["--userspace"]);
      assert.equal((await curl(lab, ...bearer(now), nodesUrl)).code, 401);
      assert.equal((await curl(lab, ...bearer(third), nodesUrl)).code, 200);
    }),
});

Deno.test({
  ...LAB_TEST,
  name: "local channel: the status server listens on the node's own overlay address",
  fn: () =>
    withLab(async (lab, dir) => {
      const status = "10.231.7.1:51880";
      const leader = await startLeader(lab, dir, [
        "--status-listen",
        status,
        "--status-allow-remote",
      ]);
      assert.match(leader.output(), /status listening address=10\.231\.7\.1:51880/);
      const token = await readToken(dir, "control.token");
      const st = await curl(lab, ...bearer(token), `http://${status}/status`);
      assert.equal(st.code, 200, st.body);
      assert.equal(JSON.parse(st.body).node.name, "lead");
    }),
});

Deno.test({
  ...LAB_TEST,
  name: "local channel: the monitoring token reads /status and /metrics, and nothing more",
  fn: () =>
    withLab(async (lab, dir) => {
      const status = "192.0.2.1:51880";
      await startLeader(lab, dir, [
        "--userspace",
        "--status-listen",
        status,
        "--status-allow-remote",
      ]);
      const monitor = await readToken(dir, "monitor.token");
      const control = await readToken(dir, "control.token");
      assert.equal((await Deno.stat(`${dir}/lead/monitor.token`)).mode! & 0o777, 0o600);
      const st = await curl(lab, ...bearer(monitor), `http://${status}/status`);
      assert.equal(st.code, 200, st.body);
      assert.equal(JSON.parse(st.body).node.name, "lead");
      const metrics = await curl(lab, ...bearer(monitor), `http://${status}/metrics`);
      assert.equal(metrics.code, 200);
      assert.match(metrics.body, /^weft_build_info/m);
      // Not a join token, not the member list, not the dashboard; nothing without a token.
      const json = ["-H", "content-type: application/json", "-d", "{}"];
      const create = await curl(lab, ...bearer(monitor), ...json, `http://${status}/v1/tokens`);
      assert.equal(create.code, 401, create.body);
      assert.equal((await curl(lab, ...bearer(monitor), `http://${status}/v1/nodes`)).code, 401);
      assert.equal((await curl(lab, ...bearer(monitor), `http://${status}/`)).code, 401);
      assert.equal((await curl(lab, `http://${status}/status`)).code, 401);
      // The control token does what the monitoring one may not.
      const made = await curl(lab, ...bearer(control), ...json, `http://${status}/v1/tokens`);
      assert.equal(made.code, 201, made.body);
    }),
});
