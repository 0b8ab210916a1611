/**
 * A start that fails leaves the state directory as it found it, through the real CLI on
 * loopback: an expired token, a leader whose port is taken (fresh, and restarted from its state),
 * and a node that had joined and cannot start (its identity is kept, byte for byte, and it starts
 * as itself once the port is free). A directory that did not exist does not exist after; one that
 * existed (empty) is still empty. A join that went unanswered (a forged secret, nobody there) is
 * the exception: the key its request named is kept, and only it, since the leader may have
 * admitted the key and the answer been lost (a start again resumes the join as that key).
 */
import assert from "node:assert/strict";
import { freePort, weft } from "../fixtures/procs.ts";
import {
  loopbackArgs,
  spawnWeft,
  untilServing,
  type WeftAgent,
  weftStatus,
} from "../fixtures/weft_agent.ts";
import { decodeToken, encodeToken } from "../../lib/mesh/join/token.ts";
import { generateKeyPair } from "../../lib/crypto/keys.ts";
import { encodeBase64 } from "../../lib/crypto/base64.ts";

/** Every entry under `dir`: its path, kind, mode and bytes (base64); null when `dir` is absent. */
async function snapshot(dir: string): Promise<Record<string, string> | null> {
  try {
    await Deno.lstat(dir);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  const out: Record<string, string> = {};
  const walk = async (at: string, rel: string): Promise<void> => {
    const info = await Deno.lstat(at);
    const mode = (info.mode! & 0o7777).toString(8);
    if (info.isDirectory) {
      out[rel || "."] = `dir ${mode}`;
      for await (const e of Deno.readDir(at)) await walk(`${at}/${e.name}`, `${rel}/${e.name}`);
    } else {
      out[rel] = `file ${mode} ${encodeBase64(await Deno.readFile(at))}`;
    }
  };
  await walk(dir, "");
  return out;
}

/** Runs a `weft` agent that must fail to start; returns its exit code and stderr. */
async function failedStart(args: string[]): Promise<{ code: number; stderr: string }> {
  const r = await weft([...args, "--status-listen", `127.0.0.1:${freePort("tcp")}`]);
  assert.notEqual(r.code, 0, `it started:\n${r.stderr}`);
  return r;
}

const proc = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name:
    "failed joins: refused (expired) leave the state directory as found, unanswered (forged secret, nobody) only their key",
  ...proc,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-failjoin-" });
    const agents: WeftAgent[] = [];
    try {
      const leader = spawnWeft(["--leader", ...loopbackArgs(`${dir}/leader`, "boss")]);
      agents.push(leader);
      await untilServing(leader);
      const ctl = (...a: string[]) =>
        weft([...a, "--status-listen", leader.status, "--state-dir", `${dir}/leader`]);
      const created = await ctl("token", "create", "--ttl", "1s");
      assert.equal(created.code, 0, created.stderr);
      const short = created.stdout.trim();
      const good = decodeToken(short);

      // A forged secret: the leader does not answer it (the join runs to its timeout). Nobody at
      // all: a leader endpoint where nothing listens (its TCP port refuses: the join ends early).
      const forged = encodeToken({ ...good, secret: encodeBase64(new Uint8Array(32).fill(7)) });
      const nobody = encodeToken({
        ...good,
        leaderKey: generateKeyPair().publicKey,
        endpoints: [`127.0.0.1:${freePort()}`],
      });
      // A directory that exists (empty, as weft would make it) stays; one that did not, does not.
      await Deno.mkdir(`${dir}/existing`, { mode: 0o700 });
      await Deno.chmod(`${dir}/existing`, 0o700);
      const before = await snapshot(`${dir}/existing`);
      const [f, n] = await Promise.all([
        failedStart(["--join", forged, ...loopbackArgs(`${dir}/forged/deep`, "f1")]),
        failedStart(["--join", nobody, ...loopbackArgs(`${dir}/existing`, "u1")]),
      ]);
      for (const r of [f, n]) assert.equal(r.code, 1, r.stderr);
      assert.match(
        f.stderr,
        /no answer from the leader: tcp:\/\/127\.0\.0\.1:\d+ took the connection but did not answer the join .*\(\d+ tries in 15 s\)/,
      );
      assert.match(
        n.stderr,
        /no answer from the leader: tcp:\/\/127\.0\.0\.1:\d+ refused the connection 3 times/,
      );
      // What is left is the key the request named (0600), in its directory (0700), and the
      // start says so.
      const keyOnly = async (at: string, was: Record<string, string>) => {
        const now = (await snapshot(at))!;
        assert.match(now["/private.key"] ?? "", /^file 600 /, JSON.stringify(now));
        const { "/private.key": _, ...rest } = now;
        assert.deepEqual(rest, was);
      };
      await keyOnly(`${dir}/forged/deep`, { ".": "dir 700" });
      assert.deepEqual(
        (await Array.fromAsync(Deno.readDir(`${dir}/forged`))).map((e) => e.name),
        ["deep"],
      );
      await keyOnly(`${dir}/existing`, before!);
      for (const r of [f, n]) assert.match(r.stderr, /this node's key is kept/);
      await Deno.remove(`${dir}/existing/private.key`);

      // Expired: the leader refuses it (exit 2).
      const list = JSON.parse((await ctl("token", "list", "--json")).stdout) as {
        id: string;
        expiresAt: string | number;
      }[];
      const expiresAt = new Date(list.find((t) => t.id === good.id)!.expiresAt).getTime();
      while (Date.now() <= expiresAt) await new Promise((r) => setTimeout(r, 100));
      const expired = await failedStart(["--join", short, ...loopbackArgs(`${dir}/exp`, "e1")]);
      assert.equal(expired.code, 2, expired.stderr);
      assert.match(expired.stderr, /join refused: token expired/);
      assert.equal(await snapshot(`${dir}/exp`), null);
      const again = await failedStart(["--join", short, ...loopbackArgs(`${dir}/existing`, "e2")]);
      assert.match(again.stderr, /token expired/);
      assert.deepEqual(await snapshot(`${dir}/existing`), before);

      // A node that had joined and cannot start (its port is taken) keeps its state, byte for
      // byte, and starts as itself once the port is free.
      const token = (await ctl("token", "create")).stdout.trim();
      const port = freePort();
      const node = spawnWeft(["--join", token, ...loopbackArgs(`${dir}/node`, "n1", port)]);
      agents.push(node);
      await untilServing(node);
      const key = (await weftStatus(node)).node.publicKey;
      assert.equal((await node.stop()).code, 0, node.log());
      const joined = await snapshot(`${dir}/node`);
      assert.ok(joined?.["/private.key"] && joined["/node.json"], JSON.stringify(joined));
      assert.equal(joined["/lock"], undefined, "the lock file goes when the agent stops");
      const squatter = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port });
      try {
        const busy = await failedStart(loopbackArgs(`${dir}/node`, "n1", port));
        assert.equal(busy.code, 1, busy.stderr);
        assert.match(busy.stderr, new RegExp(`${port}.*(in use|EADDRINUSE)`, "i"));
      } finally {
        squatter.close();
      }
      assert.deepEqual(await snapshot(`${dir}/node`), joined, "unchanged, byte for byte");
      const back = spawnWeft(loopbackArgs(`${dir}/node`, "n1", port));
      agents.push(back);
      await untilServing(back);
      assert.equal((await weftStatus(back)).node.publicKey, key, "the same node");
    } finally {
      for (const a of agents) await a.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a leader whose port is taken leaves no leader.json; a restarted one keeps its state",
  ...proc,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-failleader-" });
    const port = freePort();
    // Held across both failed starts: once let go, another process may take the port before a
    // second bind (seen in a CI run).
    let squatter: Deno.DatagramConn | null = Deno.listenDatagram({
      transport: "udp",
      hostname: "0.0.0.0",
      port,
    });
    try {
      const busy = async (state: string) => {
        const r = await failedStart(["--leader", ...loopbackArgs(state, "boss", port)]);
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, new RegExp(`${port}.*(in use|EADDRINUSE)`, "i"));
      };
      // Fresh: a directory it made goes; one that existed stays empty.
      await busy(`${dir}/fresh`);
      assert.equal(await snapshot(`${dir}/fresh`), null);
      await Deno.mkdir(`${dir}/empty`, { mode: 0o700 });
      await Deno.chmod(`${dir}/empty`, 0o700);
      const empty = await snapshot(`${dir}/empty`);
      await busy(`${dir}/empty`);
      assert.deepEqual(await snapshot(`${dir}/empty`), empty);

      squatter.close();
      squatter = null;
      // Restarted: its state (key, members, tokens) is untouched.
      const leader = spawnWeft(["--leader", ...loopbackArgs(`${dir}/leader`, "boss", port)]);
      try {
        await untilServing(leader);
        const t = await weft([
          "token",
          "create",
          "--status-listen",
          leader.status,
          "--state-dir",
          `${dir}/leader`,
        ]);
        assert.equal(t.code, 0, t.stderr);
      } finally {
        assert.equal((await leader.stop()).code, 0, leader.log());
      }
      const saved = await snapshot(`${dir}/leader`);
      assert.ok(saved?.["/leader.json"] && saved["/private.key"], JSON.stringify(saved));
      squatter = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port });
      await busy(`${dir}/leader`);
      assert.deepEqual(await snapshot(`${dir}/leader`), saved, "unchanged, byte for byte");
    } finally {
      squatter?.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a leader whose status port is taken fails before it writes any state",
  ...proc,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-failstatus-" });
    const squatter = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const taken = `127.0.0.1:${(squatter.addr as Deno.NetAddr).port}`;
    try {
      const r = await weft([
        "--leader",
        ...loopbackArgs(`${dir}/fresh`, "boss"),
        "--status-listen",
        taken,
      ]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`status server cannot listen on ${taken}`));
      assert.equal(await snapshot(`${dir}/fresh`), null, "no leader.json, key or control token");
    } finally {
      squatter.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
