/**
 * A join that gets no answer says what was seen, through the real CLI on loopback: a token whose
 * secret was changed (the leader runs, takes the TCP connection and, not knowing the token, does
 * not answer: check the token), and a token whose leader is stopped (its TCP port refuses the
 * connection: the join says so after three refusals in a row, without waiting out its 15 s).
 * Both exit with code 1. `--join-timeout` sets how long the join keeps asking.
 */
import assert from "node:assert/strict";
import { freePort, weft } from "../fixtures/procs.ts";
import { loopbackArgs, spawnWeft, untilServing } from "../fixtures/weft_agent.ts";
import { decodeToken, encodeToken } from "../../lib/mesh/join/token.ts";
import { encodeBase64 } from "../../lib/crypto/base64.ts";

/** Runs a `weft --join` that must fail; its exit code and stderr. */
async function failedJoin(
  token: string,
  stateDir: string,
  name: string,
  extra: string[] = [],
): Promise<{ code: number; stderr: string }> {
  const r = await weft([
    "--join",
    token,
    ...extra,
    ...loopbackArgs(stateDir, name),
    "--status-listen",
    `127.0.0.1:${freePort("tcp")}`,
  ]);
  assert.notEqual(r.code, 0, `it joined:\n${r.stderr}`);
  return r;
}

Deno.test({
  name:
    "a join with no answer says what was seen: a token the leader does not know, a stopped leader",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-join-unanswered-" });
    const port = freePort();
    const leader = spawnWeft(["--leader", ...loopbackArgs(`${dir}/leader`, "boss", port)]);
    try {
      await untilServing(leader);
      const created = await weft([
        "token",
        "create",
        "--status-listen",
        leader.status,
        "--state-dir",
        `${dir}/leader`,
      ]);
      assert.equal(created.code, 0, created.stderr);
      const token = created.stdout.trim();

      // Its secret changed (as a token from another mesh would be): the leader takes the
      // connection, and then the WebSocket the join goes on to, and, not knowing the token,
      // answers nothing on either.
      const forged = encodeToken({
        ...decodeToken(token),
        secret: encodeBase64(new Uint8Array(32).fill(7)),
      });
      const f = await failedJoin(forged, `${dir}/forged`, "f1");
      assert.equal(f.code, 1, f.stderr);
      assert.match(
        f.stderr,
        new RegExp(
          `no answer from the leader: tcp://127\\.0\\.0\\.1:${port} took the connection but did ` +
            "not answer the join \\(a leader does not answer a token it does not know: one from " +
            "another mesh, or whose secret changed; check the token\\), and over websocket " +
            `ws://127\\.0\\.0\\.1:${port} upgraded but did not answer either \\(\\d+ tries in 15(\\.\\d)? s\\)`,
        ),
      );

      // `--join-timeout` sets how long the join keeps asking (a user whose leader may be slow
      // or not started yet gives it longer; shorter here, to keep the test quick).
      const short = await failedJoin(forged, `${dir}/short`, "f2", ["--join-timeout", "4s"]);
      assert.equal(short.code, 1, short.stderr);
      assert.match(short.stderr, /no answer from the leader: .* \(\d+ tries in 4(\.\d)? s\)/);

      // The leader stopped: nothing listens on its port, and the join says so without waiting
      // out its time (it ends on the third refusal in a row).
      const stopped = await leader.stop();
      assert.equal(stopped.code, 0, leader.log());
      const s = await failedJoin(token, `${dir}/stopped`, "s1");
      assert.equal(s.code, 1, s.stderr);
      assert.match(
        s.stderr,
        new RegExp(
          `no answer from the leader: tcp://127\\.0\\.0\\.1:${port} refused the connection 3 ` +
            "times \\(no weft listens on that TCP port: is the leader running\\?\\)",
        ),
      );
    } finally {
      await leader.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
