import assert from "node:assert/strict";
import { resolveMesh } from "./resolve.ts";
import {
  abandonState,
  DEFAULT_NETWORK,
  localEndpoints,
  openLeader,
  openNode,
  openState,
} from "./boot.ts";
import { checkJoinToken, JoinError, JoinUnavailableError } from "./join/client.ts";
import { MSG_JOIN_REQUEST, MSG_JOIN_RESPONSE } from "./join/crypto.ts";
import { selectSuite } from "../crypto/select.ts";
import { MeshAgent } from "./mesh_agent.ts";
import { StateDir } from "./state/state.ts";
import { compilePolicyText } from "../policy/source.ts";
import { PolicyError } from "../policy/schema.ts";
import { ConfigError } from "../config/config_error.ts";
import { createLogger, nullLogger } from "../log/logger.ts";
import { MemoryNetwork } from "../../drivers/memory.ts";
import { DirLockedError } from "../config/dir_lock.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "weft-boot-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("boot: the state directory is made private and keeps its key once saved", async () => {
  await withDir(async (dir) => {
    const lines: string[] = [];
    const logger = createLogger({ sink: (l) => lines.push(l) });
    await Deno.chmod(dir, 0o755);
    const first = await openState(dir, logger);
    assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
    assert.match(lines.join("\n"), /state directory was open to other users.*was=0755/);
    // A new key stays in memory until a file that names it is written (here the leader's).
    assert.equal(first.keySaved, false);
    await assert.rejects(Deno.lstat(`${dir}/private.key`), Deno.errors.NotFound);
    await openLeader(
      resolveMesh({
        role: "leader",
        stateDir: dir,
        hostname: "lead",
        userspace: true,
        advertise: ["192.0.2.1:1"],
      }),
      first,
      nullLogger,
    );
    assert.equal(first.keySaved, true);
    first.lock.release();
    const again = await openState(dir, logger);
    assert.equal(again.keySaved, true);
    assert.equal(again.privateKey, first.privateKey);
    assert.equal(again.publicKey, first.publicKey);
    assert.equal(lines.length, 1, "tightened once");
    again.lock.release();
  });
});

Deno.test("boot: a start that fails removes what it made, never what was there", async () => {
  await withDir(async (dir) => {
    // Made by this start (with a parent), then abandoned: gone.
    const fresh = await openState(`${dir}/a/b`, nullLogger);
    await openLeader(
      resolveMesh({
        role: "leader",
        stateDir: `${dir}/a/b`,
        hostname: "l",
        userspace: true,
        advertise: ["192.0.2.1:1"],
      }),
      fresh,
      nullLogger,
    );
    await abandonState(fresh, nullLogger);
    assert.equal(fresh.lock.held, false);
    await assert.rejects(Deno.lstat(`${dir}/a`), Deno.errors.NotFound);
    // A node's directory with its state: a start that fails before its join touches nothing.
    const node = `${dir}/n`;
    await Deno.mkdir(node, { mode: 0o700 });
    await Deno.writeTextFile(`${node}/keep`, "mine");
    const opened = await openState(node, nullLogger);
    await assert.rejects(
      openNode(
        resolveMesh({ role: "node", stateDir: node, hostname: "n" }),
        opened,
        null,
        nullLogger,
      ),
      JoinError,
    );
    await abandonState(opened, nullLogger);
    assert.deepEqual((await Array.fromAsync(Deno.readDir(node))).map((e) => e.name), ["keep"]);
  });
});

Deno.test("boot: a locked state directory is refused before anything in it is touched", async () => {
  await withDir(async (dir) => {
    const held = await openState(dir, nullLogger);
    // A write of the holder's in flight, which a second start's clean-up would have removed.
    const tmp = `${dir}/.leader.json.${Deno.pid}.123.tmp`;
    await Deno.writeTextFile(tmp, "{}");
    await Deno.chmod(dir, 0o750);
    await assert.rejects(
      openState(dir, nullLogger),
      (e) =>
        e instanceof DirLockedError && e.pid === Deno.pid &&
        e.message.startsWith(`state directory ${dir} is in use by another process (PID `),
    );
    assert.ok((await Deno.stat(tmp)).isFile, "the holder's temp file is left alone");
    assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o750, "the mode is left alone");
    // A lock taken first (to read the directory before the start) is used, and released on error.
    const wrong = await new StateDir(`${dir}/other`).lock();
    await assert.rejects(openState(dir, nullLogger, wrong), /not a held lock on/);
    assert.equal(wrong.held, false);
    held.lock.release();
    const lock = await new StateDir(dir).lock();
    const opened = await openState(dir, nullLogger, lock);
    assert.equal(opened.lock, lock);
    assert.equal(opened.publicKey.length, 44);
    opened.lock.release();
  });
});

Deno.test("boot: this machine's endpoints are its IPv4 addresses, loopback as a last resort", () => {
  const eps = localEndpoints(51999);
  assert.ok(eps.length > 0);
  for (const e of eps) assert.match(e, /^\d+\.\d+\.\d+\.\d+:51999$/);
  if (eps.some((e) => !e.startsWith("127."))) {
    assert.ok(eps.every((e) => !e.startsWith("127.")), "loopback only when alone");
  }
});

Deno.test("boot: a leader's state is opened with its policy and addresses", async () => {
  await withDir(async (dir) => {
    const opened = await openState(dir, nullLogger);
    const policyText = compilePolicyText("policies: []\n").canonical;
    const { core, addresses } = await openLeader(
      resolveMesh({
        role: "leader",
        stateDir: dir,
        hostname: "lead",
        userspace: true,
        network: "10.8.0.0/24",
        network6: "fd08::/64",
        advertise: ["192.0.2.1:51820"],
        policyText,
      }),
      opened,
      nullLogger,
    );
    assert.deepEqual(addresses, ["10.8.0.1/24", "fd08::1/64"]);
    assert.deepEqual(core.leader.endpoints, ["192.0.2.1:51820"]);
    assert.equal(core.leader.publicKey, opened.publicKey);
    assert.equal(core.policy()?.text, policyText);
    await core.flush();
    assert.ok(await new StateDir(dir).readLeader(), "leader.json written");
    opened.lock.release();
  });
});

Deno.test("boot: a leader's policy is checked against its members: a name none has stops it", async () => {
  await withDir(async (dir) => {
    const opts = {
      role: "leader" as const,
      stateDir: dir,
      hostname: "lead",
      userspace: true,
      advertise: ["192.0.2.1:51820"],
    };
    const rule = "policies:\n  - name: a\n    action: allow\n    to: { names: [db1] }\n";
    const opened = await openState(dir, nullLogger);
    try {
      // From a configuration file: a ConfigError at that file's line.
      await assert.rejects(
        openLeader(
          resolveMesh({
            ...opts,
            policyText: rule,
            policyOrigin: { file: "weft.yaml", firstLine: 10 },
          }),
          opened,
          nullLogger,
        ),
        (e) =>
          e instanceof ConfigError &&
          e.message.startsWith("weft.yaml, line 13: policy.policies[0].to.names[0]: no member db1"),
      );
      // Given as text (the library): the PolicyError, at the text's line.
      await assert.rejects(
        openLeader(resolveMesh({ ...opts, policyText: rule }), opened, nullLogger),
        (e) => e instanceof PolicyError && e.line === 4,
      );
      // The leader's own name is a member's; a member to come is in future:.
      const lines: string[] = [];
      const logger = createLogger({ sink: (l) => lines.push(l) });
      const good =
        `future: [db1]\n${rule}  - name: b\n    action: allow\n    from: { names: [Lead] }\n    to: role=db\n`;
      const { core } = await openLeader(resolveMesh({ ...opts, policyText: good }), opened, logger);
      assert.equal(core.policy()?.version, 1);
      assert.match(core.policy()!.text, /future:/);
      const warned = lines.find((l) => l.includes("policy warnings"));
      assert.ok(warned?.includes("match no member"), lines.join("\n"));
      core.close();
    } finally {
      opened.lock.release();
    }
  });
});

Deno.test("boot: a leader advertises this machine's addresses unless told; default network", async () => {
  await withDir(async (dir) => {
    const opened = await openState(dir, nullLogger);
    const { core, addresses } = await openLeader(
      resolveMesh({
        role: "leader",
        stateDir: dir,
        hostname: "lead",
        userspace: true,
        listenPort: 51998,
      }),
      opened,
      nullLogger,
    );
    assert.equal(core.network, DEFAULT_NETWORK);
    assert.deepEqual(addresses, ["10.200.0.1/16"]);
    assert.deepEqual(core.leader.endpoints, localEndpoints(51998));
    opened.lock.release();
  });
});

Deno.test("boot: a node without its file or a token is told to join", async () => {
  await withDir(async (dir) => {
    const opened = await openState(dir, nullLogger);
    await assert.rejects(
      openNode(
        resolveMesh({ role: "node", stateDir: dir, hostname: "n1" }),
        opened,
        null,
        nullLogger,
      ),
      (e) =>
        e instanceof JoinError && /holds no joined node: give a token with --join/.test(e.message),
    );
    opened.lock.release();
  });
});

Deno.test("boot: a node joins once, saves the answer, and restarts from its file", async () => {
  await withDir(async (dir) => {
    const net = new MemoryNetwork();
    const leader = await MeshAgent.start({
      role: "leader",
      stateDir: `${dir}/lead`,
      hostname: "lead",
      userspace: true,
      network: "10.8.1.0/24",
      network6: "fd08:1::/64",
      advertise: ["192.0.2.1:51820"],
      dnsPort: 0,
      logger: nullLogger,
      openTransport: (port) => Promise.resolve(net.bind("192.0.2.1", port)),
    });
    try {
      const { token } = await leader.createToken({ ttlMs: 60_000 });
      const lines: string[] = [];
      const logger = createLogger({ sink: (l) => lines.push(l) });
      const opened = await openState(`${dir}/n1`, logger);
      const opts = {
        role: "node" as const,
        stateDir: `${dir}/n1`,
        hostname: "n1",
        token,
        openTransport: (port: number) => Promise.resolve(net.bind("192.0.2.2", port)),
      };
      const checked = checkJoinToken(token, selectSuite().dh);
      const first = await openNode(resolveMesh(opts), opened, checked, logger);
      assert.deepEqual(first.addresses, ["10.8.1.2/24", "fd08:1::2/64"]);
      assert.equal(first.joinedOver, "udp");
      assert.equal(first.joinedVia, "192.0.2.1:51820");
      assert.equal(first.node.leader.address, "10.8.1.1");
      assert.deepEqual(first.node.view.members.map((m) => m.name), ["lead", "n1"]);
      assert.deepEqual(await new StateDir(`${dir}/n1`).readNode(), first.node);
      assert.match(lines.join("\n"), /joined address=10\.8\.1\.2/);
      const again = await openNode(resolveMesh(opts), opened, checked, logger);
      assert.deepEqual(again.node, first.node);
      assert.equal(again.joinedOver, undefined, "no join this time");
      assert.match(lines.join("\n"), /already joined; the token is not needed/);
      opened.lock.release();
      // private.key lost: a new one would be made, which the mesh does not know. Refused.
      await Deno.remove(`${dir}/n1/private.key`);
      const rekeyed = await openState(`${dir}/n1`, logger);
      try {
        await assert.rejects(
          () => openNode(resolveMesh(opts), rekeyed, checked, logger),
          /this node's key does not match its stored state: .*n1\/private\.key is not the key it joined with/,
        );
      } finally {
        rekeyed.lock.release();
      }
    } finally {
      await leader.close();
    }
  });
});

Deno.test("boot: a leader on a port the system picks is refused unless it says what to advertise", async () => {
  await withDir(async (dir) => {
    const opened = await openState(dir, nullLogger);
    try {
      await assert.rejects(
        openLeader(
          resolveMesh({
            role: "leader",
            stateDir: dir,
            hostname: "lead",
            userspace: true,
            listenPort: 0,
          }),
          opened,
          nullLogger,
        ),
        /give it a fixed listen port/,
      );
      const { core } = await openLeader(
        resolveMesh({
          role: "leader",
          stateDir: dir,
          hostname: "lead",
          userspace: true,
          listenPort: 0,
          advertise: ["192.0.2.1:51820"],
        }),
        opened,
        nullLogger,
      );
      assert.deepEqual(core.leader.endpoints, ["192.0.2.1:51820"]);
    } finally {
      opened.lock.release();
    }
  });
});

Deno.test("boot: the join's key is on disk before its request; a join whose answer was lost resumes as the same member", async () => {
  await withDir(async (dir) => {
    // The leader's join answers are lost while `lose` is set; the request's arrival is noted
    // with whether the joiner's key was on disk by then.
    let lose = true;
    const keyOnDisk: boolean[] = [];
    const net = new MemoryNetwork({
      route: (from, to, data) => {
        if (data[0] === MSG_JOIN_REQUEST) {
          keyOnDisk.push(exists(`${dir}/n1/private.key`));
        }
        if (lose && data[0] === MSG_JOIN_RESPONSE) return null;
        return { from: String(from), to: String(to) };
      },
    });
    const leader = await MeshAgent.start({
      role: "leader",
      stateDir: `${dir}/lead`,
      hostname: "lead",
      userspace: true,
      network: "10.8.3.0/24",
      advertise: ["192.0.2.1:51820"],
      dnsPort: 0,
      logger: nullLogger,
      openTransport: (port) => Promise.resolve(net.bind("192.0.2.1", port)),
    });
    try {
      const { token } = await leader.createToken({ ttlMs: 60_000, uses: 1 });
      const lines: string[] = [];
      const logger = createLogger({ sink: (l) => lines.push(l) });
      const opts = {
        role: "node" as const,
        stateDir: `${dir}/n1`,
        hostname: "n1",
        token,
        // Gives up soon: the answers are lost on purpose, and the test waits for the failure.
        joinTimeoutMs: 1000,
        openTransport: (port: number) => Promise.resolve(net.bind("192.0.2.2", port)),
      };
      const checked = checkJoinToken(token, selectSuite().dh);
      const opened = await openState(`${dir}/n1`, logger);
      await assert.rejects(
        openNode(resolveMesh(opts), opened, checked, logger),
        /no answer from the leader/,
      );
      await abandonState(opened, logger);
      // The leader admitted it; the key was on disk before the first request, and is kept.
      const admitted = leader.leader.member("n1")!;
      assert.ok(admitted, "the leader admitted n1");
      assert.ok(keyOnDisk.length > 0 && keyOnDisk.every((k) => k), JSON.stringify(keyOnDisk));
      assert.match(lines.join("\n"), /the join failed: this node's key is kept/);
      assert.equal(await new StateDir(`${dir}/n1`).readNode(), null);

      // Started again (the same command), the answer arrives: the member admitted, as it was.
      lose = false;
      const again = await openState(`${dir}/n1`, logger);
      assert.equal(again.publicKey, admitted.publicKey, "the key the leader admitted");
      const back = await openNode(resolveMesh(opts), again, checked, logger);
      again.lock.release();
      assert.equal(back.node.address, admitted.address);
      assert.equal(back.node.name, "n1");
      assert.deepEqual(leader.view().members.map((m) => m.name), ["lead", "n1"], "no orphan");
      assert.equal(leader.leader.listTokens()[0].usesLeft, 0, "the token was used once");
    } finally {
      await leader.close();
    }
  });
});

Deno.test("boot: a node whose file cannot be written after its answer keeps its key, and starts again as that member", async () => {
  await withDir(async (dir) => {
    // node.json cannot be written while a directory is in its place: put there as the answer
    // goes by, after the start read the (absent) file.
    let block = true;
    const net = new MemoryNetwork({
      route: (from, to, data) => {
        if (block && data[0] === MSG_JOIN_RESPONSE) {
          Deno.mkdirSync(`${dir}/n1/node.json`, { recursive: true });
        }
        return { from: String(from), to: String(to) };
      },
    });
    const leader = await MeshAgent.start({
      role: "leader",
      stateDir: `${dir}/lead`,
      hostname: "lead",
      userspace: true,
      network: "10.8.5.0/24",
      advertise: ["192.0.2.1:51820"],
      dnsPort: 0,
      logger: nullLogger,
      openTransport: (port) => Promise.resolve(net.bind("192.0.2.1", port)),
    });
    try {
      const { token } = await leader.createToken({ ttlMs: 60_000, uses: 1 });
      const opts = {
        role: "node" as const,
        stateDir: `${dir}/n1`,
        hostname: "n1",
        token,
        openTransport: (port: number) => Promise.resolve(net.bind("192.0.2.2", port)),
      };
      const checked = checkJoinToken(token, selectSuite().dh);
      const opened = await openState(`${dir}/n1`, nullLogger);
      await assert.rejects(openNode(resolveMesh(opts), opened, checked, nullLogger));
      await abandonState(opened, nullLogger);
      const admitted = leader.leader.member("n1")!;
      assert.ok(exists(`${dir}/n1/private.key`), "the admitted key is kept");
      block = false;
      await Deno.remove(`${dir}/n1/node.json`);
      const again = await openState(`${dir}/n1`, nullLogger);
      assert.equal(again.publicKey, admitted.publicKey);
      const back = await openNode(resolveMesh(opts), again, checked, nullLogger);
      again.lock.release();
      assert.equal(back.node.address, admitted.address);
      assert.deepEqual(leader.view().members.map((m) => m.name), ["lead", "n1"]);
    } finally {
      await leader.close();
    }
  });
});

Deno.test("boot: a refusal of the joiner's input removes the key it made; another refusal keeps it (exit codes 2 and 1)", async () => {
  await withDir(async (dir) => {
    const net = new MemoryNetwork();
    const leader = await MeshAgent.start({
      role: "leader",
      stateDir: `${dir}/lead`,
      hostname: "lead",
      userspace: true,
      // The leader and one node: full after it.
      network: "10.8.4.0/30",
      advertise: ["192.0.2.1:51820"],
      dnsPort: 0,
      logger: nullLogger,
      openTransport: (port) => Promise.resolve(net.bind("192.0.2.1", port)),
    });
    try {
      const { token } = await leader.createToken({ ttlMs: 60_000 });
      const join = async (host: string, ip: string, hostname = host) => {
        const opened = await openState(`${dir}/${host}`, nullLogger);
        const opts = {
          role: "node" as const,
          stateDir: `${dir}/${host}`,
          hostname,
          token,
          openTransport: (port: number) => Promise.resolve(net.bind(ip, port)),
        };
        try {
          await openNode(
            resolveMesh(opts),
            opened,
            checkJoinToken(token, selectSuite().dh),
            nullLogger,
          );
          opened.lock.release();
        } catch (e) {
          await abandonState(opened, nullLogger);
          throw e;
        }
      };
      // No DNS label: refused for what it was given (a JoinError: exit 2); nothing is left.
      await assert.rejects(
        join("bad", "192.0.2.3", "Bad_Name"),
        (e) => e instanceof JoinError && /join refused: hostname "Bad_Name"/.test(e.message),
      );
      assert.equal(exists(`${dir}/bad`), false);
      await join("n1", "192.0.2.2");
      // The network is full: the leader's state, not the joiner's input (exit 1). Its request
      // went out: the key stays.
      await assert.rejects(
        join("n2", "192.0.2.4"),
        (e) =>
          e instanceof JoinUnavailableError && !(e instanceof JoinError) &&
          e.message === "join refused: network 10.8.4.0/30 is exhausted",
      );
      assert.ok(exists(`${dir}/n2/private.key`), "the key that was sent is kept");
    } finally {
      await leader.close();
    }
  });
});

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
