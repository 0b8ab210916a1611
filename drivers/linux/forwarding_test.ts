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
  /** What `cmd -L <chain> -v -x -n` prints, by `cmd`, for a chain that exists. */
  readonly listings = new Map<string, string>();
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
    } else if (op === "-L") {
      assert.deepEqual(rule, ["-v", "-x", "-n"], text);
      return { code: 0, stdout: this.listings.get(cmd) ?? "", stderr: "" };
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

/** The two rules of a route, as the fake records them (the comment's quotes are the shell's). */
function routeRules(cmd: string, prefix: string, iface = "weft0"): string[] {
  const def = prefix.endsWith("/0");
  const ctstate = "-m conntrack --ctstate RELATED,ESTABLISHED";
  const cmt = (dir: string) => `-m comment --comment weft route ${prefix} ${dir}`;
  return [
    `${cmd} -w -A WEFT-FWD-${iface} -i ${iface}${def ? "" : ` -d ${prefix}`} ${
      cmt("out")
    } -j ACCEPT`,
    `${cmd} -w -A WEFT-FWD-${iface} -o ${iface}${def ? "" : ` -s ${prefix}`} ${ctstate} ${
      cmt("in")
    } -j ACCEPT`,
  ];
}

Deno.test("apply for IPv4 and IPv6 with masquerade: the exact commands, rules and sysctls", async () => {
  const host = new FakeHost();
  await host.forwarding().apply(BOTH);
  const ctstate = "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT";
  assert.deepEqual(host.calls, [
    ...cleanup("iptables"),
    ...cleanup("ip6tables"),
    "iptables -w -N WEFT-FWD-weft0",
    "iptables -w -A WEFT-FWD-weft0 -i weft0 -d 192.168.1.0/24 -m comment --comment weft route 192.168.1.0/24 out -j ACCEPT",
    `iptables -w -A WEFT-FWD-weft0 -o weft0 -s 192.168.1.0/24 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment weft route 192.168.1.0/24 in -j ACCEPT`,
    "iptables -w -A WEFT-FWD-weft0 -i weft0 -m comment --comment weft route 0.0.0.0/0 out -j ACCEPT",
    `iptables -w -A WEFT-FWD-weft0 -o weft0 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment weft route 0.0.0.0/0 in -j ACCEPT`,
    `iptables -w -A WEFT-FWD-weft0 -o weft0 ${ctstate}`,
    "iptables -w -A WEFT-FWD-weft0 -i weft0 -j DROP",
    "iptables -w -I FORWARD 1 -j WEFT-FWD-weft0",
    "iptables -w -t nat -N WEFT-NAT-weft0",
    "iptables -w -t nat -A WEFT-NAT-weft0 -s 10.96.0.0/16 -d 192.168.1.0/24 ! -o weft0 -j MASQUERADE",
    "iptables -w -t nat -A WEFT-NAT-weft0 -s 10.96.0.0/16 ! -o weft0 -j MASQUERADE",
    "iptables -w -t nat -I POSTROUTING 1 -j WEFT-NAT-weft0",
    "ip6tables -w -N WEFT-FWD-weft0",
    ...routeRules("ip6tables", "fd00:1::/64"),
    `ip6tables -w -A WEFT-FWD-weft0 -o weft0 ${ctstate}`,
    "ip6tables -w -A WEFT-FWD-weft0 -i weft0 -j DROP",
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
    ...routeRules("iptables", "172.16.0.0/12").map((r) => r.replace("iptables -w ", "")),
    "-A WEFT-FWD-weft0 -o weft0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    "-A WEFT-FWD-weft0 -i weft0 -j DROP",
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
  assert.equal(host.rules("iptables").length, 6);
});

Deno.test("route rules go longest prefix first, so a packet counts towards its route", async () => {
  const host = new FakeHost();
  await host.forwarding().apply({
    ...BOTH,
    prefixes: ["0.0.0.0/0", "10.0.0.0/8", "::/0", "10.1.0.0/16"],
    masquerade: false,
  });
  const strip = (rs: string[]) => rs.map((r) => r.replace(/^ip6?tables -w /, ""));
  assert.deepEqual(host.rules("iptables").slice(2), [
    ...strip(routeRules("iptables", "10.1.0.0/16")),
    ...strip(routeRules("iptables", "10.0.0.0/8")),
    ...strip(routeRules("iptables", "0.0.0.0/0")),
    "-A WEFT-FWD-weft0 -o weft0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    "-A WEFT-FWD-weft0 -i weft0 -j DROP",
  ]);
  assert.deepEqual(host.rules("ip6tables").slice(2, 4), strip(routeRules("ip6tables", "::/0")));
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
  assert.equal(v4only.rules("iptables").length, 6);
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

/** `iptables -L WEFT-FWD-weft0 -v -x -n` after apply(BOTH) and some traffic, as 1.8.9 prints it. */
const LISTING_V4 = `Chain WEFT-FWD-weft0 (1 references)
    pkts      bytes target     prot opt in     out     source               destination         
    1523   127840 ACCEPT     0    --  weft0  *       0.0.0.0/0            192.168.1.0/24       /* weft route 192.168.1.0/24 out */
    1490  3145728 ACCEPT     0    --  *      weft0   192.168.1.0/24       0.0.0.0/0            ctstate RELATED,ESTABLISHED /* weft route 192.168.1.0/24 in */
3000000000 5000000000000 ACCEPT     0    --  weft0  *       0.0.0.0/0            0.0.0.0/0            /* weft route 0.0.0.0/0 out */
2900000001 9007199254740991 ACCEPT     0    --  *      weft0   0.0.0.0/0            0.0.0.0/0            ctstate RELATED,ESTABLISHED /* weft route 0.0.0.0/0 in */
      12     1008 ACCEPT     0    --  weft0  *       0.0.0.0/0            10.9.0.0/16          /* weft route 10.9.0.0/16 out */
       7      588 ACCEPT     0    --  weft0  *       0.0.0.0/0            0.0.0.0/0           
       5      420 ACCEPT     0    --  *      weft0   0.0.0.0/0            0.0.0.0/0            ctstate RELATED,ESTABLISHED
`;
/** The same of ip6tables, in the older layout (`all`, an empty opt column). */
const LISTING_V6 = `Chain WEFT-FWD-weft0 (1 references)
    pkts      bytes target     prot opt in     out     source               destination         
      40     4160 ACCEPT     all      weft0  *       ::/0                 fd00:1::/64          /* weft route fd00:1::/64 out */
      38    31920 ACCEPT     all      *      weft0   fd00:1::/64          ::/0                 ctstate RELATED,ESTABLISHED /* weft route fd00:1::/64 in */
      99     9999 ACCEPT     all      weft0  *       ::/0                 192.168.1.0/24       /* weft route 192.168.1.0/24 out */
      xx       yy ACCEPT     all      weft0  *       ::/0                 fd00:1::/64          /* weft route fd00:1::/64 out */
      1 99999999999999999999 ACCEPT all     weft0  *       ::/0                 fd00:1::/64          /* weft route fd00:1::/64 out */
       0        0 ACCEPT     all      weft0  *       ::/0                 ::/0                
`;

Deno.test("counters: parsed from iptables -L -v -x -n, per prefix and direction", async () => {
  const host = new FakeHost();
  const fwd = host.forwarding();
  // Nothing installed: nothing run.
  assert.deepEqual(await fwd.counters(), []);
  assert.deepEqual(host.calls, []);
  await fwd.apply(BOTH);
  host.listings.set("iptables", LISTING_V4);
  host.listings.set("ip6tables", LISTING_V6);
  host.calls.length = 0;
  // Unattributable lines are ignored: the generic rules, a prefix not installed (in either
  // family), counts that are not numbers or that exceed 2^53.
  assert.deepEqual(await fwd.counters(), [
    {
      prefix: "192.168.1.0/24",
      outPackets: 1523,
      outBytes: 127840,
      inPackets: 1490,
      inBytes: 3145728,
    },
    {
      prefix: "0.0.0.0/0",
      outPackets: 3000000000,
      outBytes: 5000000000000,
      inPackets: 2900000001,
      inBytes: 9007199254740991,
    },
    { prefix: "fd00:1::/64", outPackets: 40, outBytes: 4160, inPackets: 38, inBytes: 31920 },
  ]);
  assert.deepEqual(host.calls, [
    "iptables -w -t filter -L WEFT-FWD-weft0 -v -x -n",
    "ip6tables -w -t filter -L WEFT-FWD-weft0 -v -x -n",
  ]);
  // A family with no IPv6 prefixes is not listed; a fresh chain counts zeros.
  await fwd.apply({ ...BOTH, prefixes: ["10.9.0.0/16"] });
  host.listings.clear();
  host.calls.length = 0;
  assert.deepEqual(await fwd.counters(), [
    { prefix: "10.9.0.0/16", outPackets: 0, outBytes: 0, inPackets: 0, inBytes: 0 },
  ]);
  assert.deepEqual(host.calls, ["iptables -w -t filter -L WEFT-FWD-weft0 -v -x -n"]);
  // A chain someone deleted leaves its family out; a closed forwarding has nothing.
  await host.run("iptables", ["-w", "-D", "FORWARD", "-j", "WEFT-FWD-weft0"]);
  await host.run("iptables", ["-w", "-F", "WEFT-FWD-weft0"]);
  await host.run("iptables", ["-w", "-X", "WEFT-FWD-weft0"]);
  assert.deepEqual(await fwd.counters(), []);
  await fwd.close();
  assert.deepEqual(await fwd.counters(), []);
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
  const counted = fwd.counters().then((c) => {
    done.push("counters");
    return c;
  });
  const c = fwd.close().then(() => done.push("close"));
  await Promise.all([a, b, counted, c]);
  assert.deepEqual(done, ["apply", "refused", "counters", "close"]);
  // Run after apply, before close: every prefix there.
  assert.deepEqual((await counted).map((c) => c.prefix), BOTH.prefixes);
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
    const ctstate = "-m conntrack --ctstate RELATED,ESTABLISHED";
    // As `iptables -S` prints the route rules: `-d`/`-s` before `-i`/`-o`, the comment quoted.
    const route = (prefix: string) => {
      const [d, s] = prefix.endsWith("/0") ? ["", ""] : [`-d ${prefix} `, `-s ${prefix} `];
      const cmt = (dir: string) => `-m comment --comment "weft route ${prefix} ${dir}"`;
      return [
        `-A WEFT-FWD-weft0 ${d}-i weft0 ${cmt("out")} -j ACCEPT`,
        `-A WEFT-FWD-weft0 ${s}-o weft0 ${ctstate} ${cmt("in")} -j ACCEPT`,
      ];
    };
    const filter = (...prefixes: string[]) => [
      "-N WEFT-FWD-weft0",
      "-A FORWARD -j WEFT-FWD-weft0",
      ...prefixes.flatMap(route),
      `-A WEFT-FWD-weft0 -o weft0 ${ctstate} -j ACCEPT`,
      "-A WEFT-FWD-weft0 -i weft0 -j DROP",
    ];
    assert.deepEqual(await ours(), [
      ...filter("192.168.1.0/24", "0.0.0.0/0"),
      "-N WEFT-NAT-weft0",
      "-A POSTROUTING -j WEFT-NAT-weft0",
      "-A WEFT-NAT-weft0 -s 10.96.0.0/16 -d 192.168.1.0/24 ! -o weft0 -j MASQUERADE",
      "-A WEFT-NAT-weft0 -s 10.96.0.0/16 ! -o weft0 -j MASQUERADE",
      ...filter("fd00:1::/64"),
      "-N WEFT-NAT-weft0",
      "-A POSTROUTING -j WEFT-NAT-weft0",
      "-A WEFT-NAT-weft0 -s fd7a::/48 -d fd00:1::/64 ! -o weft0 -j MASQUERADE",
    ]);
    // The real listing parses: one entry per prefix, with counts (nothing went through: 0).
    const counted = await fwd.counters();
    assert.deepEqual(counted.map((c) => c.prefix), BOTH.prefixes);
    for (const c of counted) {
      for (const n of [c.outPackets, c.outBytes, c.inPackets, c.inBytes]) {
        assert.ok(Number.isSafeInteger(n) && n >= 0, JSON.stringify(c));
      }
    }
    const only = [
      ...filter("10.50.0.0/16"),
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
    assert.deepEqual((await restarted.counters()).map((c) => c.prefix), ["10.50.0.0/16"]);
    await restarted.close();
    assert.deepEqual(await ours(), []);
    assert.deepEqual(await restarted.counters(), []);
    // The first instance turned the sysctls on; its close turns them off, rules already gone.
    await fwd.close();
    await fwd.close();
    assert.deepEqual(await sysctls(), ["0\n", "0\n"]);
    assert.deepEqual(await ours(), []);
  },
});

Deno.test("sweep: a crashed run's chains and jumps go, for both families", async () => {
  const calls: string[] = [];
  const fwd = new LinuxForwarding({
    run: (cmd, args) => {
      calls.push(`${cmd} ${args.join(" ")}`);
      return Promise.resolve({
        code: 1,
        stdout: "",
        stderr: "No chain/target/match by that name.",
      });
    },
    sysctl: { read: () => Promise.resolve("0"), write: () => Promise.resolve() },
  });
  await fwd.sweep("weft0");
  for (const tool of ["iptables", "ip6tables"]) {
    assert.ok(
      calls.includes(`${tool} -w -t filter -D FORWARD -j WEFT-FWD-weft0`),
      calls.join("\n"),
    );
    assert.ok(calls.includes(`${tool} -w -t nat -X WEFT-NAT-weft0`), calls.join("\n"));
  }
  await assert.rejects(() => fwd.sweep("bad name"), /invalid interface name/);
});

Deno.test("families guarded with no prefix approved: the mesh's traffic is dropped, not forwarded", async () => {
  const host = new FakeHost();
  await host.forwarding().apply({ ...BOTH, prefixes: [], families: [4], masquerade: true });
  assert.deepEqual(host.rules("iptables"), [
    "-A FORWARD -j WEFT-FWD-weft0",
    "-N WEFT-FWD-weft0",
    "-A WEFT-FWD-weft0 -o weft0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    "-A WEFT-FWD-weft0 -i weft0 -j DROP",
  ]);
  assert.deepEqual(host.rules("ip6tables"), []);
});
