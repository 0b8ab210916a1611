/**
 * LinuxForwarding. The unit tests run anywhere, against a small model of iptables and the sysctl
 * files. The rest needs root: the test makes a network namespace and re-runs this file inside it
 * (`ip netns exec`) with WEFT_FWD_TEST_NS set, where the "inside:" tests change that namespace's
 * own sysctls and iptables only. The namespace is always deleted.
 */
import assert from "node:assert/strict";
import {
  type CommandResult,
  FORWARDING_SYSCTLS,
  LinuxForwarding,
  type SysctlFiles,
} from "./forwarding.ts";
import type { ForwardingConfig } from "../../lib/routes/forwarding.ts";
import { haveCommands, must, runInsideNamespace, sh } from "../../tests/fixtures/netns.ts";

const INSIDE = Deno.env.get("WEFT_FWD_TEST_NS") !== undefined;
const CAN_RUN = Deno.build.os === "linux" && Deno.uid() === 0 && !INSIDE &&
  (await haveCommands("ip", "iptables", "ip6tables"));
const V4 = FORWARDING_SYSCTLS[4], V6 = FORWARDING_SYSCTLS[6];

/**
 * A model of iptables/ip6tables (tables of chains of rules, as `-S` prints them) and of the
 * sysctl files, recording every command and write.
 */
class FakeHost {
  readonly calls: string[] = [];
  readonly writes: string[] = [];
  readonly missing = new Set<string>();
  /** A command whose text matches fails, with this stderr. */
  failOn: RegExp | null = null;
  failWrite: string | null = null;
  readonly sysctls = new Map<string, string>([[V4, "0\n"], [V6, "0\n"]]);
  readonly #tables = new Map<string, Map<string, string[]>>();

  run = async (cmd: string, args: string[]): Promise<CommandResult> => {
    await Promise.resolve();
    const text = `${cmd} ${args.join(" ")}`;
    this.calls.push(text);
    if (this.missing.has(cmd)) throw new Deno.errors.NotFound(`${cmd}: not found`);
    if (this.failOn?.test(text)) return { code: 4, stdout: "", stderr: "Bad rule\n" };
    assert.equal(args[0], "-w", text);
    let rest = args.slice(1);
    let table = "filter";
    if (rest[0] === "-t") [table, rest] = [rest[1], rest.slice(2)];
    const chains = this.#chains(cmd, table);
    const [op, chain, ...rule] = rest;
    const rules = chains.get(chain);
    const fail = { code: 1, stdout: "", stderr: `No chain/target/match by that name.\n` };
    if (op === "-N") {
      if (rules) return { ...fail, stderr: "Chain already exists.\n" };
      chains.set(chain, []);
    } else if (!rules) {
      return fail;
    } else if (op === "-A") {
      rules.push(rule.join(" "));
    } else if (op === "-I") {
      rules.splice(Number(rule[0]) - 1, 0, rule.slice(1).join(" "));
    } else if (op === "-D") {
      const i = rules.indexOf(rule.join(" "));
      if (i < 0) return fail;
      rules.splice(i, 1);
    } else if (op === "-F") {
      rules.length = 0;
    } else if (op === "-X") {
      chains.delete(chain);
    } else {
      throw new Error(`unexpected ${text}`);
    }
    return { code: 0, stdout: "", stderr: "" };
  };

  readonly sysctl: SysctlFiles = {
    read: (path) => Promise.resolve(this.sysctls.get(path)!),
    write: (path, value) => {
      this.writes.push(`${path}=${value}`);
      if (path === this.failWrite) return Promise.reject(new Error(`${path}: read-only`));
      this.sysctls.set(path, value);
      return Promise.resolve();
    },
  };

  /** What `cmd -t table -S` would print of the rules (the built-in chains' policies left out). */
  rules(cmd: string, table = "filter"): string[] {
    const out: string[] = [];
    for (const [chain, rules] of this.#chains(cmd, table)) {
      if (!/^[A-Z]+$/.test(chain)) out.push(`-N ${chain}`);
      for (const r of rules) out.push(`-A ${chain} ${r}`);
    }
    return out;
  }

  #chains(cmd: string, table: string): Map<string, string[]> {
    const key = `${cmd}/${table}`;
    let t = this.#tables.get(key);
    if (!t) {
      t = new Map([[table === "nat" ? "POSTROUTING" : "FORWARD", []]]);
      this.#tables.set(key, t);
    }
    return t;
  }

  forwarding(): LinuxForwarding {
    return new LinuxForwarding({ run: this.run, sysctl: this.sysctl });
  }
}

const BOTH: ForwardingConfig = {
  iface: "weft0",
  sources: ["10.96.0.0/16", "fd7a::/48"],
  prefixes: ["192.168.1.0/24", "0.0.0.0/0", "fd00:1::/64"],
  masquerade: true,
};

/** The cleanup of one family when nothing is there: each jump once, each chain flushed, deleted. */
function cleanup(cmd: string, iface = "weft0"): string[] {
  return ["filter", "nat"].flatMap((t) => {
    const [hook, chain] = t === "nat"
      ? ["POSTROUTING", `WEFT-NAT-${iface}`]
      : ["FORWARD", `WEFT-FWD-${iface}`];
    return [`-D ${hook} -j ${chain}`, `-F ${chain}`, `-X ${chain}`].map((c) =>
      `${cmd} -w -t ${t} ${c}`
    );
  });
}

Deno.test("apply for IPv4 and IPv6 with masquerade: the exact commands, rules and sysctls", async () => {
  const host = new FakeHost();
  await host.forwarding().apply(BOTH);
  const ctstate = "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT";
  assert.deepEqual(host.calls, [
    ...cleanup("iptables"),
    ...cleanup("ip6tables"),
    "iptables -w -N WEFT-FWD-weft0",
    "iptables -w -A WEFT-FWD-weft0 -i weft0 -j ACCEPT",
    `iptables -w -A WEFT-FWD-weft0 -o weft0 ${ctstate}`,
    "iptables -w -I FORWARD 1 -j WEFT-FWD-weft0",
    "iptables -w -t nat -N WEFT-NAT-weft0",
    "iptables -w -t nat -A WEFT-NAT-weft0 -s 10.96.0.0/16 -d 192.168.1.0/24 ! -o weft0 -j MASQUERADE",
    "iptables -w -t nat -A WEFT-NAT-weft0 -s 10.96.0.0/16 ! -o weft0 -j MASQUERADE",
    "iptables -w -t nat -I POSTROUTING 1 -j WEFT-NAT-weft0",
    "ip6tables -w -N WEFT-FWD-weft0",
    "ip6tables -w -A WEFT-FWD-weft0 -i weft0 -j ACCEPT",
    `ip6tables -w -A WEFT-FWD-weft0 -o weft0 ${ctstate}`,
    "ip6tables -w -I FORWARD 1 -j WEFT-FWD-weft0",
    "ip6tables -w -t nat -N WEFT-NAT-weft0",
    "ip6tables -w -t nat -A WEFT-NAT-weft0 -s fd7a::/48 -d fd00:1::/64 ! -o weft0 -j MASQUERADE",
    "ip6tables -w -t nat -I POSTROUTING 1 -j WEFT-NAT-weft0",
  ]);
  assert.deepEqual(host.writes, [`${V4}=1`, `${V6}=1`]);
});

Deno.test("a second apply replaces: exactly the new rules, none of the dropped family", async () => {
  const host = new FakeHost();
  const fwd = host.forwarding();
  await fwd.apply(BOTH);
  // Host bits are cleared and duplicates dropped.
  const next = { ...BOTH, prefixes: ["172.16.5.9/12", "172.16.0.0/12"], masquerade: true };
  await fwd.apply(next);
  assert.deepEqual(host.rules("iptables"), [
    "-A FORWARD -j WEFT-FWD-weft0",
    "-N WEFT-FWD-weft0",
    "-A WEFT-FWD-weft0 -i weft0 -j ACCEPT",
    "-A WEFT-FWD-weft0 -o weft0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
  ]);
  assert.deepEqual(host.rules("iptables", "nat"), [
    "-A POSTROUTING -j WEFT-NAT-weft0",
    "-N WEFT-NAT-weft0",
    "-A WEFT-NAT-weft0 -s 10.96.0.0/16 -d 172.16.0.0/12 ! -o weft0 -j MASQUERADE",
  ]);
  assert.deepEqual(host.rules("ip6tables"), []);
  assert.deepEqual(host.rules("ip6tables", "nat"), []);
  // Without masquerade: no nat chain at all.
  await fwd.apply({ ...next, masquerade: false });
  assert.deepEqual(host.rules("iptables", "nat"), []);
  assert.equal(host.rules("iptables").length, 4);
});

Deno.test("a restarted agent removes what a crashed run left, duplicate jumps too", async () => {
  const host = new FakeHost();
  await host.forwarding().apply(BOTH);
  // The crashed run's jumps, twice over.
  await host.run("iptables", ["-w", "-I", "FORWARD", "1", "-j", "WEFT-FWD-weft0"]);
  await host.run("iptables", ["-w", "-t", "nat", "-I", "POSTROUTING", "1", "-j", "WEFT-NAT-weft0"]);
  const fwd = host.forwarding();
  await fwd.apply({ ...BOTH, prefixes: ["10.1.0.0/16"] });
  assert.deepEqual(host.rules("iptables").filter((r) => r.startsWith("-A FORWARD")), [
    "-A FORWARD -j WEFT-FWD-weft0",
  ]);
  assert.deepEqual(host.rules("iptables", "nat"), [
    "-A POSTROUTING -j WEFT-NAT-weft0",
    "-N WEFT-NAT-weft0",
    "-A WEFT-NAT-weft0 -s 10.96.0.0/16 -d 10.1.0.0/16 ! -o weft0 -j MASQUERADE",
  ]);
  assert.deepEqual(host.rules("ip6tables"), []);
  // Another interface's rules are another agent's: left alone.
  await host.forwarding().apply({ ...BOTH, iface: "weft1" });
  await fwd.close();
  assert.ok(host.rules("iptables").includes("-A FORWARD -j WEFT-FWD-weft1"));
  assert.ok(!host.rules("iptables").some((r) => r.includes("weft0")));
});

Deno.test("close restores only the sysctls that were 0, never throws for rules gone, twice", async () => {
  const host = new FakeHost();
  host.sysctls.set(V6, "1\n");
  const fwd = host.forwarding();
  await fwd.apply(BOTH);
  await fwd.apply(BOTH);
  assert.deepEqual(host.writes, [`${V4}=1`]);
  // Someone removed our rules meanwhile.
  for (const cmd of ["iptables", "ip6tables"]) {
    for (const t of ["filter", "nat"]) {
      const [hook, chain] = t === "nat" ? ["POSTROUTING", "NAT"] : ["FORWARD", "FWD"];
      await host.run(cmd, ["-w", "-t", t, "-D", hook, "-j", `WEFT-${chain}-weft0`]);
    }
  }
  await fwd.close();
  assert.deepEqual(host.writes, [`${V4}=1`, `${V4}=0`]);
  assert.equal(host.sysctls.get(V6), "1\n");
  for (const cmd of ["iptables", "ip6tables"]) {
    assert.deepEqual([...host.rules(cmd), ...host.rules(cmd, "nat")], []);
  }
  const calls = host.calls.length;
  await fwd.close();
  assert.equal(host.calls.length, calls);
  assert.equal(host.writes.length, 2);
  // Never applied: close touches nothing.
  await new FakeHost().forwarding().close();
});

Deno.test("a missing iptables or ip6tables is a clear error; ip6tables is only needed for IPv6", async () => {
  const host = new FakeHost();
  host.missing.add("iptables");
  await assert.rejects(
    host.forwarding().apply(BOTH),
    /forwarding routes needs iptables \(.*\), but it is not installed: install iptables/,
  );
  assert.deepEqual(host.writes, []);

  const v4only = new FakeHost();
  v4only.missing.add("ip6tables");
  await v4only.forwarding().apply({ ...BOTH, prefixes: ["10.2.0.0/16"] });
  assert.equal(v4only.rules("iptables").length, 4);
  await assert.rejects(
    v4only.forwarding().apply(BOTH),
    /forwarding IPv6 routes needs ip6tables .*install iptables/,
  );
  // The IPv4 half it had done is undone.
  assert.deepEqual([...v4only.rules("iptables"), ...v4only.rules("iptables", "nat")], []);
});

Deno.test("a failure part way throws the command and stderr and undoes what apply did", async () => {
  const host = new FakeHost();
  host.failOn = /^ip6tables .*MASQUERADE/;
  await assert.rejects(
    host.forwarding().apply(BOTH),
    (e: Error) => {
      assert.match(e.message, /^ip6tables -w -t nat -A WEFT-NAT-weft0 -s fd7a::\/48 .*: Bad rule$/);
      return true;
    },
  );
  for (const cmd of ["iptables", "ip6tables"]) {
    assert.deepEqual([...host.rules(cmd), ...host.rules(cmd, "nat")], []);
  }
  assert.deepEqual(host.writes, []);

  // A sysctl that cannot be written (a read-only /proc): the rules go, and the one turned on too.
  const ro = new FakeHost();
  ro.failWrite = V6;
  await assert.rejects(ro.forwarding().apply(BOTH), /read-only/);
  assert.deepEqual(ro.writes, [`${V4}=1`, `${V6}=1`, `${V4}=0`]);
  assert.deepEqual(ro.rules("iptables"), []);
});

Deno.test("bad interface names and CIDRs are refused before any command", async () => {
  const host = new FakeHost();
  const fwd = host.forwarding();
  for (const iface of ["", "a".repeat(16), "we ft", "a/b", "a:1", ".", "..", "wg+", "\t"]) {
    await assert.rejects(fwd.apply({ ...BOTH, iface }), /invalid interface name/, iface);
  }
  await assert.rejects(fwd.apply({ ...BOTH, prefixes: ["10.0.0.0/33"] }), /invalid prefix/);
  await assert.rejects(fwd.apply({ ...BOTH, prefixes: ["-j ACCEPT"] }), /invalid prefix/);
  for (const source of ["fd7a::/129", "10.96.0.0/16x", "10.96.0.0/-1"]) {
    await assert.rejects(fwd.apply({ ...BOTH, sources: [source] }), /invalid source/, source);
  }
  assert.deepEqual(host.calls, []);
  await fwd.apply({ ...BOTH, iface: "a".repeat(15) });
});

Deno.test("calls run one at a time, in order", async () => {
  const host = new FakeHost();
  const fwd = host.forwarding();
  const done: string[] = [];
  const a = fwd.apply(BOTH).then(() => done.push("apply"));
  const b = fwd.apply({ ...BOTH, iface: "bad name" }).catch(() => done.push("refused"));
  const c = fwd.close().then(() => done.push("close"));
  await Promise.all([a, b, c]);
  assert.deepEqual(done, ["apply", "refused", "close"]);
  assert.deepEqual(host.rules("iptables"), []);
  assert.equal(host.sysctls.get(V4), "0");
});

Deno.test({
  name: "LinuxForwarding in a network namespace of its own (runs the inside: tests there)",
  ignore: !CAN_RUN,
  fn: async () => {
    const before = await hostState();
    const { success, text } = await runInsideNamespace(
      new URL(import.meta.url).pathname,
      "WEFT_FWD_TEST_NS",
      "weft-fwd",
    );
    assert.ok(success, text);
    assert.match(text, /ok \| 1 passed \| 0 failed/, text);
    // The machine's own forwarding and firewall were never touched.
    assert.deepEqual(await hostState(), before);
  },
});

/** This namespace's forwarding sysctls and the weft chains in its firewall. */
async function hostState(): Promise<string[]> {
  const out = [await Deno.readTextFile(V4), await Deno.readTextFile(V6)];
  for (const cmd of ["iptables", "ip6tables"]) {
    for (const t of ["filter", "nat"]) {
      const r = await sh(cmd, "-w", "-t", t, "-S");
      out.push(...r.stdout.split("\n").filter((l) => l.includes("WEFT-")));
    }
  }
  return out;
}

Deno.test({
  name: "inside: apply, replace, restart after a crash, close, on the real iptables",
  ignore: !INSIDE,
  fn: async () => {
    const ipt = (cmd: string, t: string) =>
      must(cmd, "-w", "-t", t, "-S").then((s) => s.split("\n").filter((l) => l.includes("WEFT-")));
    const ours = async () => [
      ...await ipt("iptables", "filter"),
      ...await ipt("iptables", "nat"),
      ...await ipt("ip6tables", "filter"),
      ...await ipt("ip6tables", "nat"),
    ];
    const sysctls = async () => [await Deno.readTextFile(V4), await Deno.readTextFile(V6)];
    // A fresh namespace forwards nothing.
    assert.deepEqual(await sysctls(), ["0\n", "0\n"]);
    const fwd = new LinuxForwarding();
    await fwd.apply(BOTH);
    assert.deepEqual(await sysctls(), ["1\n", "1\n"]);
    const ctstate = "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT";
    const filter = [
      "-N WEFT-FWD-weft0",
      "-A FORWARD -j WEFT-FWD-weft0",
      "-A WEFT-FWD-weft0 -i weft0 -j ACCEPT",
      `-A WEFT-FWD-weft0 -o weft0 ${ctstate}`,
    ];
    assert.deepEqual(await ours(), [
      ...filter,
      "-N WEFT-NAT-weft0",
      "-A POSTROUTING -j WEFT-NAT-weft0",
      "-A WEFT-NAT-weft0 -s 10.96.0.0/16 -d 192.168.1.0/24 ! -o weft0 -j MASQUERADE",
      "-A WEFT-NAT-weft0 -s 10.96.0.0/16 ! -o weft0 -j MASQUERADE",
      ...filter,
      "-N WEFT-NAT-weft0",
      "-A POSTROUTING -j WEFT-NAT-weft0",
      "-A WEFT-NAT-weft0 -s fd7a::/48 -d fd00:1::/64 ! -o weft0 -j MASQUERADE",
    ]);
    const only = [
      ...filter,
      "-N WEFT-NAT-weft0",
      "-A POSTROUTING -j WEFT-NAT-weft0",
      "-A WEFT-NAT-weft0 -s 10.96.0.0/16 -d 10.50.0.0/16 ! -o weft0 -j MASQUERADE",
    ];
    await fwd.apply({ ...BOTH, prefixes: ["10.50.0.0/16"] });
    assert.deepEqual(await ours(), only);
    // A crash: the next run's instance finds the rules, and ip_forward on.
    const restarted = new LinuxForwarding();
    await restarted.apply({ ...BOTH, prefixes: ["10.50.0.0/16"] });
    assert.deepEqual(await ours(), only);
    await restarted.close();
    assert.deepEqual(await ours(), []);
    // The first instance turned the sysctls on; its close turns them off, rules already gone.
    await fwd.close();
    await fwd.close();
    assert.deepEqual(await sysctls(), ["0\n", "0\n"]);
    assert.deepEqual(await ours(), []);
  },
});
