/**
 * Cross-site requests to `weft up --userspace` (issue 44, finding 6): a web page can POST
 * `text/plain` to 127.0.0.1 without asking; its control server once took `/v1` without a token
 * and read any content type as JSON, so such a page made the agent send datagrams into the
 * tunnel. Two real `weft up --userspace` processes on loopback: the page's requests are refused
 * and no datagram leaves; the CLI's own send, over the agent's socket in its state directory,
 * still goes through.
 */
import assert from "node:assert/strict";
import { confFor, nodes, type ProcNode } from "../fixtures/procs.ts";
import { eventually, HANG_GUARD_MS } from "../fixtures/netns.ts";
import { selfCommand } from "../../lib/demo/self.ts";

const [CMD, ...PRE] = selfCommand();

/** A node's state directory (its control socket and token): the test's, not the machine's. */
const stateOf = (dir: string, n: ProcNode) => `${dir}/${n.name}.state`;

function spawn(args: string[]) {
  const child = new Deno.Command(CMD, {
    args: [...PRE, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  let err = "";
  const dec = new TextDecoder();
  const done = Promise.all([
    child.stdout.pipeTo(new WritableStream({ write: (c) => void (out += dec.decode(c)) })),
    child.stderr.pipeTo(new WritableStream({ write: (c) => void (err += dec.decode(c)) })),
  ]).catch(() => {});
  return { child, done, stdout: () => out, stderr: () => err };
}

async function run(args: string[]) {
  const p = spawn(args);
  const { code } = await p.child.status;
  await p.done;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

/** A POST as a web page may send it unasked: no token, `text/plain`, JSON inside. */
function post(
  status: string,
  path: string,
  body: unknown,
  headers: Record<string, string>,
): Promise<number> {
  return fetch(`http://${status}${path}`, { method: "POST", body: JSON.stringify(body), headers })
    .then(async (r) => (await r.body?.cancel(), r.status));
}

Deno.test({
  name: "weft up --userspace: a tokenless or text/plain POST is refused and sends nothing",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-up-control-" });
    const [a, b] = nodes(2);
    const procs: ReturnType<typeof spawn>[] = [];
    try {
      for (const n of [a, b]) {
        await Deno.writeTextFile(`${dir}/${n.name}.conf`, confFor(n, [a, b]), { mode: 0o600 });
        const p = spawn([
          "up",
          `${dir}/${n.name}.conf`,
          "--userspace",
          "--status-listen",
          n.status,
          "--state-dir",
          stateOf(dir, n),
        ]);
        procs.push(p);
        let exited = false;
        p.child.status.then(() => exited = true);
        const up = await eventually(async () => {
          if (exited) return true;
          try {
            const r = await fetch(`http://${n.status}/healthz`);
            await r.body?.cancel();
            return r.ok;
          } catch {
            return false;
          }
        }, HANG_GUARD_MS);
        assert.ok(up && !exited, `${n.name} did not start:\n${p.stderr()}`);
      }
      // b prints the first datagram on port 7000 (the CLI over b's socket).
      const recv = spawn(["recv", "7000", "-n", "1", "--state-dir", stateOf(dir, b)]);
      procs.push(recv);
      assert.ok(
        await eventually(
          () => Promise.resolve(recv.stderr().includes("listening on port 7000")),
          HANG_GUARD_MS,
        ),
        recv.stderr(),
      );

      const send = { address: b.address, port: 7000, text: "from a web page" };
      const plain = { "content-type": "text/plain;charset=UTF-8" };
      assert.equal(await post(a.status, "/v1/send", send, plain), 401, "a page's POST, no token");
      const json = { "content-type": "application/json" };
      assert.equal(await post(a.status, "/v1/send", send, json), 401, "JSON without the token");
      assert.equal(
        await post(a.status, "/v1/ping", { address: b.address }, plain),
        401,
        "a page's ping",
      );
      // Even with the token, a body that is not declared JSON is not read.
      const token = (await Deno.readTextFile(`${stateOf(dir, a)}/control.token`))
        .trim();
      const authorization = `Bearer ${token}`;
      assert.equal(await post(a.status, "/v1/send", send, { ...plain, authorization }), 415);

      // The CLI's own datagram is the first (and only) one b receives.
      const sent = await run(["send", b.address, "7000", "marker", "--state-dir", stateOf(dir, a)]);
      assert.equal(sent.code, 0, sent.stderr);
      const { code } = await recv.child.status;
      await recv.done;
      assert.equal(code, 0, recv.stderr());
      const lines = recv.stdout().trim().split("\n");
      assert.equal(lines.length, 1, recv.stdout());
      assert.match(lines[0], new RegExp(`^${a.address.replaceAll(".", "\\.")}:\\d+ marker$`));
    } finally {
      for (const p of procs) {
        try {
          p.child.kill("SIGTERM");
        } catch { /* gone */ }
        await p.child.status;
        await p.done;
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
});
