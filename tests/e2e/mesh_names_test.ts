/**
 * Endpoints given as names, through the real CLI in namespaces: the leader advertises only
 * `NAME:PORT` (from the joiner's hosts file); the joiner joins through the name and reaches the
 * leader through it; then the leader's address changes behind the name and the joiner finds it
 * again once the old address stops answering.
 */
import assert from "node:assert/strict";
import { canBuildLabs, eventually, HANG_GUARD_MS, haveCommands, Lab } from "../fixtures/netns.ts";
import { ping, wgDump } from "../fixtures/wg_lab.ts";
import { nodeList, startMeshNode, waitUp, weftIn } from "../fixtures/mesh_lab.ts";
import { decodeToken } from "../../lib/mesh/join/token.ts";

const ignore = !(await canBuildLabs()) || !(await haveCommands("ping", "iptables", "wg"));

const NAME = "lead.weft.test";

Deno.test({
  name: "a leader known by name only: join, reach, and re-resolve after its address changes",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const lab = await Lab.create(["lead", "n1"]);
    const dir = await Deno.makeTempDir({ prefix: "weft-names-" });
    // `ip netns exec` mounts /etc/netns/<ns>/* over /etc/*: n1 gets its own hosts file, and a
    // resolver on its own loopback, so no lookup ever leaves the lab.
    const etc = `/etc/netns/${lab.host("n1").ns}`;
    const hosts = `${etc}/hosts`;
    const opts = {
      dir,
      cidr: "10.93.0.0/24",
      ifPrefix: "wn",
      extra: ["--log-level", "debug"],
    };
    try {
      await Deno.mkdir(etc, { recursive: true });
      await Deno.writeTextFile(`${etc}/resolv.conf`, "nameserver 127.0.0.1\n");
      await Deno.writeTextFile(hosts, `127.0.0.1 localhost\n192.0.2.1 ${NAME}\n`);

      // The leader never reaches out on its own (no keepalives, no probes in this test's time),
      // and n1 sits behind a stateful firewall for the leader's next address: after the move,
      // only n1 itself can open the path, by sending to where the name now points.
      await lab.run(
        "n1",
        "iptables",
        "-A",
        "INPUT",
        "-s",
        "192.0.2.101",
        "-p",
        "udp",
        "-m",
        "conntrack",
        "--ctstate",
        "NEW",
        "-j",
        "DROP",
      );
      const leader = startMeshNode(lab, opts, "lead", [
        "--leader",
        "--advertise",
        `${NAME}:51820`,
        "--persistent-keepalive",
        "0",
        "--probe-interval",
        "1h",
      ]);
      await waitUp(lab, "lead", dir, leader);
      const tok = await weftIn(lab, "lead", dir, "token", "create", "--uses", "1");
      assert.equal(tok.code, 0, tok.stderr);
      const token = tok.stdout.trim();
      assert.deepEqual(decodeToken(token).endpoints, [`${NAME}:51820`], "only the name");

      const n1 = startMeshNode(lab, opts, "n1", ["--join", token]);
      await waitUp(lab, "n1", dir, n1);
      assert.match(n1.output(), /leader endpoint resolved.*endpoint=192\.0\.2\.1:51820/);
      const list = (await nodeList(lab, "n1", dir))!;
      const leadAddr = list.find((m) => m.name === "lead")!.address;
      // The leader's record carries only the name: n1 reaches it through the name.
      assert.ok(
        await eventually(() => ping(lab, "n1", leadAddr, 1, 2), HANG_GUARD_MS),
        "n1 -> leader",
      );
      const iface = `wnn1${lab.tag}`;
      const endpointOfLeader = async () => (await wgDump(lab, "n1", iface))[0]?.endpoint;
      assert.equal(await endpointOfLeader(), "192.0.2.1:51820");

      // The leader moves to another address and the name follows; the old one goes dead.
      // (The old address goes first: deleting a primary address takes its secondaries along.)
      await lab.run("lead", "ip", "addr", "del", "192.0.2.1/24", "dev", "eth0");
      await lab.run("lead", "ip", "addr", "add", "192.0.2.101/24", "dev", "eth0");
      await Deno.writeTextFile(hosts, `127.0.0.1 localhost\n192.0.2.101 ${NAME}\n`);

      // n1's handshakes to the old address go unanswered: it looks the name up again.
      const back = await eventually(() => ping(lab, "n1", leadAddr, 1, 2), 90_000, 500);
      assert.ok(back, `n1 -> leader after the move:\n${n1.output()}\n${leader.output()}`);
      assert.equal(await endpointOfLeader(), "192.0.2.101:51820");
      assert.match(
        n1.output(),
        /endpoint re-resolved.*name=lead\.weft\.test:51820.*endpoint=192\.0\.2\.101:51820/,
      );
    } finally {
      await lab.destroy();
      await Deno.remove(etc, { recursive: true }).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a join through a name that never resolves fails with the cause after the join timeout",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const lab = await Lab.create(["lead", "n1"]);
    const dir = await Deno.makeTempDir({ prefix: "weft-noname-" });
    const etc = `/etc/netns/${lab.host("n1").ns}`;
    const opts = { dir, cidr: "10.94.0.0/24", ifPrefix: "wu", extra: [] };
    try {
      await Deno.mkdir(etc, { recursive: true });
      await Deno.writeTextFile(`${etc}/resolv.conf`, "nameserver 127.0.0.1\n");
      await Deno.writeTextFile(`${etc}/hosts`, "127.0.0.1 localhost\n");
      const leader = startMeshNode(lab, opts, "lead", [
        "--leader",
        "--advertise",
        `${NAME}:51820`,
        "--userspace",
      ]);
      await waitUp(lab, "lead", dir, leader);
      const token = (await weftIn(lab, "lead", dir, "token", "create")).stdout.trim();
      const n1 = startMeshNode(lab, opts, "n1", [
        "--join",
        token,
        "--userspace",
        "--join-timeout",
        "15s",
      ]);
      const status = await n1.child.status;
      assert.equal(status.code, 1, n1.output());
      assert.match(
        n1.output(),
        /could not resolve the leader's endpoint lead\.weft\.test:51820: cannot resolve lead\.weft\.test/,
      );
      // Logged once, not once per retry.
      assert.equal(n1.output().match(/leader endpoint not resolved/g)?.length, 1);
    } finally {
      await lab.destroy();
      await Deno.remove(etc, { recursive: true }).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});
