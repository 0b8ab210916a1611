/**
 * LinuxDefaultRouting. The unit tests run anywhere, against a small model of `ip rule` and
 * `ip route` and of the sysctl file. The rest needs root: the test makes a network namespace and
 * re-runs this file inside it (`ip netns exec`) with WEFT_DEFROUTE_TEST_NS set, where the
 * "inside:" test changes that namespace's own rules, routes and sysctl only. The namespace is
 * always deleted.
 */
import assert from "node:assert/strict";
import { LinuxDefaultRouting, rulePriorities, SRC_VALID_MARK } from "./default_route.ts";
import type { CommandResult, SysctlFiles } from "./forwarding.ts";
import type { DefaultRouteConfig } from "../../lib/routes/forwarding.ts";
import {
  canBuildLabs,
  eventually,
  HANG_GUARD_MS,
  must,
  runInsideNamespace,
  sh,
} from "../../tests/fixtures/netns.ts";

const INSIDE = Deno.env.get("WEFT_DEFROUTE_TEST_NS") !== undefined;
const CAN_RUN = !INSIDE && (await canBuildLabs());

/**
 * A model of `ip -4/-6 rule` (selectors as given, in order) and `ip -4/-6 route` (per table,
 * destination to device) and of the sysctl file, recording every command and write.
 */
class FakeHost {
  readonly calls: string[] = [];
  readonly writes: string[] = [];
  missing = false;
  /** A command whose text matches fails, with this stderr. */
  failOn: RegExp | null = null;
  sysctlValue = "0\n";
  readonly #rules = new Map<string, string[]>([["-4", []], ["-6", []]]);
  /** `${family} ${table} ${dst}` to device. */
  readonly #routes = new Map<string, string>();

  run = async (cmd: string, args: string[]): Promise<CommandResult> => {
    await Promise.resolve();
    const text = `${cmd} ${args.join(" ")}`;
    this.calls.push(text);
    if (this.missing) throw new Deno.errors.NotFound(`${cmd}: not found`);
    if (this.failOn?.test(text)) return { code: 2, stdout: "", stderr: "RTNETLINK: Bad rule\n" };
    assert.equal(cmd, "ip");
    const [family, what, op, ...rest] = args;
    const ok = { code: 0, stdout: "", stderr: "" };
    const gone = { code: 2, stdout: "", stderr: "RTNETLINK answers: No such file or directory\n" };
    if (what === "rule") {
      const rules = this.#rules.get(family)!;
      const sel = rest.join(" ");
      if (op === "add") rules.push(sel);
      else if (op === "del") {
        // `priority N` alone matches any rule at that priority, as ip's does.
        const i = /^priority \d+$/.test(sel)
          ? rules.findIndex((r) => r.endsWith(` ${sel}`))
          : rules.indexOf(sel);
        if (i < 0) return gone;
        rules.splice(i, 1);
      } else throw new Error(`unexpected ${text}`);
      return ok;
    }
    assert.equal(what, "route", text);
    // An unreachable route is held as the device "unreachable"; a delete naming the type or a
    // device matches only that.
    const unreachable = rest[0] === "unreachable";
    if (unreachable) rest.shift();
    const dst = rest[0];
    const table = rest[rest.indexOf("table") + 1];
    const key = `${family} ${table} ${dst}`;
    const devAt = rest.indexOf("dev");
    const want = unreachable ? "unreachable" : devAt >= 0 ? rest[devAt + 1] : undefined;
    if (op === "replace") {
      this.#routes.set(key, want!);
    } else if (op === "del") {
      const dev = this.#routes.get(key);
      if (dev === undefined || (want !== undefined && want !== dev)) return gone;
      this.#routes.delete(key);
    } else throw new Error(`unexpected ${text}`);
    return ok;
  };

  readonly sysctl: SysctlFiles = {
    read: (path) => {
      assert.equal(path, SRC_VALID_MARK);
      return Promise.resolve(this.sysctlValue);
    },
    write: (path, value) => {
      this.writes.push(`${path}=${value}`);
      this.sysctlValue = value;
      return Promise.resolve();
    },
  };

  /** The rules and routes, as `-4 rule ...` and `-6 route ... table ... dev ...` lines. */
  state(): string[] {
    const out: string[] = [];
    for (const [f, rules] of this.#rules) out.push(...rules.map((r) => `${f} rule ${r}`));
    for (const [key, dev] of this.#routes) out.push(`route ${key} dev ${dev}`);
    return out;
  }

  routing(): LinuxDefaultRouting {
    return new LinuxDefaultRouting({ run: this.run, sysctl: this.sysctl });
  }
}

const CONFIG: DefaultRouteConfig = {
  iface: "weft0",
  mark: 51820,
  table: 51820,
  families: [4, 6],
  keepLocalRoutes: true,
};
// 5300 + (51820 % 1000) * 3
const P = 7760, PS = 7759;
const TABLE_RULE = `not fwmark 51820 table 51820 priority ${P}`;
const SUPPRESS_RULE = `table main suppress_prefixlength 0 priority ${PS}`;

/** The cleanup of one family when nothing is there: each delete tried once. */
function cleanup(f: 4 | 6, table = 51820, mark = 51820): string[] {
  const p = rulePriorities(table);
  return [
    `ip -${f} rule del not fwmark ${mark} table ${table} priority ${p.table}`,
    `ip -${f} rule del table main suppress_prefixlength 0 priority ${p.suppress}`,
    `ip -${f} route del ${f === 4 ? "0.0.0.0/0" : "::/0"} table ${table}`,
    `ip -${f} route del unreachable ${f === 4 ? "0.0.0.0/0" : "::/0"} table ${table}`,
    `ip -${f} rule del priority ${p.exempt}`,
  ];
}

Deno.test("rule priorities: a fixed band between the local and main rules, from the table", () => {
  assert.deepEqual(rulePriorities(51820), { table: P, suppress: PS, exempt: P - 2 });
  assert.deepEqual(rulePriorities(1000), { table: 5300, suppress: 5299, exempt: 5298 });
  assert.deepEqual(rulePriorities(0xffffffff), {
    table: 5300 + 295 * 3,
    suppress: 6184,
    exempt: 6183,
  });
  assert.deepEqual(rulePriorities(999), { table: 8297, suppress: 8296, exempt: 8295 });
});

Deno.test("apply for IPv4 and IPv6 keeping local routes: the exact commands and sysctl", async () => {
  const host = new FakeHost();
  await host.routing().apply(CONFIG);
  assert.deepEqual(host.calls, [
    ...cleanup(4),
    ...cleanup(6),
    "ip -4 route replace 0.0.0.0/0 dev weft0 table 51820",
    `ip -4 rule add ${SUPPRESS_RULE}`,
    `ip -4 rule add ${TABLE_RULE}`,
    "ip -6 route replace ::/0 dev weft0 table 51820",
    `ip -6 rule add ${SUPPRESS_RULE}`,
    `ip -6 rule add ${TABLE_RULE}`,
  ]);
  assert.deepEqual(host.writes, [`${SRC_VALID_MARK}=1`]);
  assert.deepEqual(host.state(), [
    `-4 rule ${SUPPRESS_RULE}`,
    `-4 rule ${TABLE_RULE}`,
    `-6 rule ${SUPPRESS_RULE}`,
    `-6 rule ${TABLE_RULE}`,
    "route -4 51820 0.0.0.0/0 dev weft0",
    "route -6 51820 ::/0 dev weft0",
  ]);
});

Deno.test("without keepLocalRoutes there is no suppress rule; IPv6 alone leaves the sysctl", async () => {
  const host = new FakeHost();
  await host.routing().apply({ ...CONFIG, families: [6], keepLocalRoutes: false });
  assert.deepEqual(host.calls.slice(10), [
    "ip -6 route replace ::/0 dev weft0 table 51820",
    `ip -6 rule add ${TABLE_RULE}`,
  ]);
  assert.deepEqual(host.state(), [`-6 rule ${TABLE_RULE}`, "route -6 51820 ::/0 dev weft0"]);
  assert.deepEqual(host.writes, []);
});

Deno.test("a second apply replaces: exactly the new set, the old table's rules gone", async () => {
  const host = new FakeHost();
  const r = host.routing();
  await r.apply(CONFIG);
  // Families given twice and out of order are taken once, in order.
  await r.apply({ ...CONFIG, families: [6, 4, 6], keepLocalRoutes: false });
  assert.deepEqual(host.state(), [
    `-4 rule ${TABLE_RULE}`,
    `-6 rule ${TABLE_RULE}`,
    "route -4 51820 0.0.0.0/0 dev weft0",
    "route -6 51820 ::/0 dev weft0",
  ]);
  // Another table, mark and interface, IPv6 only: IPv4's sysctl goes back as it was.
  await r.apply({ ...CONFIG, iface: "weft1", table: 7, mark: 0x10, families: [6] });
  assert.deepEqual(host.state(), [
    "-6 rule table main suppress_prefixlength 0 priority 5320",
    "-6 rule not fwmark 16 table 7 priority 5321",
    "route -6 7 ::/0 dev weft1",
  ]);
  assert.deepEqual(host.writes, [`${SRC_VALID_MARK}=1`, `${SRC_VALID_MARK}=0`]);
  await r.close();
  assert.deepEqual(host.state(), []);
});

Deno.test("blocked: unreachable default routes; a change in place keeps the table's rule throughout", async () => {
  const host = new FakeHost();
  const r = host.routing();
  const blocked = { ...CONFIG, keepLocalRoutes: true, blocked: true, exempt: ["203.0.113.1"] };
  await r.apply(blocked);
  assert.deepEqual(host.state(), [
    `-4 rule ${SUPPRESS_RULE}`,
    `-4 rule to 203.0.113.1 table main priority ${P - 2}`,
    `-4 rule ${TABLE_RULE}`,
    `-6 rule ${SUPPRESS_RULE}`,
    `-6 rule ${TABLE_RULE}`,
    "route -4 51820 0.0.0.0/0 dev unreachable",
    "route -6 51820 ::/0 dev unreachable",
  ]);
  // Into the tunnel (the exit node came), without the LAN and with another exemption: the
  // default route replaced, the new exemption added before the old one goes, the table's rule
  // never deleted (no moment when the host's own default route carries the traffic).
  host.calls.length = 0;
  await r.apply({ ...CONFIG, keepLocalRoutes: false, exempt: ["203.0.113.2"] });
  assert.deepEqual(host.calls, [
    `ip -4 rule add to 203.0.113.2 table main priority ${P - 2}`,
    "ip -4 route replace 0.0.0.0/0 dev weft0 table 51820",
    `ip -4 rule del to 203.0.113.1 table main priority ${P - 2}`,
    `ip -4 rule del ${SUPPRESS_RULE}`,
    "ip -6 route replace ::/0 dev weft0 table 51820",
    `ip -6 rule del ${SUPPRESS_RULE}`,
  ]);
  assert.deepEqual(host.state(), [
    `-4 rule ${TABLE_RULE}`,
    `-4 rule to 203.0.113.2 table main priority ${P - 2}`,
    `-6 rule ${TABLE_RULE}`,
    "route -4 51820 0.0.0.0/0 dev weft0",
    "route -6 51820 ::/0 dev weft0",
  ]);
  // Blocked again (the exit node went), IPv4 only: IPv6's rule and route go.
  await r.apply({ ...blocked, families: [4] });
  assert.deepEqual(host.state(), [
    `-4 rule ${TABLE_RULE}`,
    `-4 rule ${SUPPRESS_RULE}`,
    `-4 rule to 203.0.113.1 table main priority ${P - 2}`,
    "route -4 51820 0.0.0.0/0 dev unreachable",
  ]);
  assert.ok(!host.calls.includes(`ip -4 rule del ${TABLE_RULE}`));
  // Close removes the unreachable routes too; so does a sweep of a crashed blocked run.
  await r.close();
  assert.deepEqual(host.state(), []);
  await r.apply(blocked);
  await host.routing().sweep(51820, 51820, "weft0");
  assert.deepEqual(host.state(), []);
});

Deno.test("a restarted agent removes what a crashed run left, duplicates too", async () => {
  const host = new FakeHost();
  await host.routing().apply(CONFIG);
  // The crashed run's rules, twice over, and a stray default route in its table.
  await host.run("ip", ["-4", "rule", "add", ...TABLE_RULE.split(" ")]);
  await host.run("ip", ["-6", "rule", "add", ...SUPPRESS_RULE.split(" ")]);
  await host.run("ip", ["-4", "route", "replace", "0.0.0.0/0", "dev", "old0", "table", "51820"]);
  // Someone else's rule, at another priority: left alone.
  await host.run("ip", ["-4", "rule", "add", "not", "fwmark", "51820", "table", "51820"]);
  const r = host.routing();
  await r.apply({ ...CONFIG, families: [4] });
  assert.deepEqual(host.state(), [
    "-4 rule not fwmark 51820 table 51820",
    `-4 rule ${SUPPRESS_RULE}`,
    `-4 rule ${TABLE_RULE}`,
    "route -4 51820 0.0.0.0/0 dev weft0",
  ]);
  await r.close();
  assert.deepEqual(host.state(), ["-4 rule not fwmark 51820 table 51820"]);
});

Deno.test("close restores the sysctl it changed, never throws for things gone, twice", async () => {
  const host = new FakeHost();
  const r = host.routing();
  await r.apply(CONFIG);
  await r.apply(CONFIG);
  assert.deepEqual(host.writes, [`${SRC_VALID_MARK}=1`]);
  // Someone removed a rule and the IPv6 route meanwhile.
  await host.run("ip", ["-4", "rule", "del", ...TABLE_RULE.split(" ")]);
  await host.run("ip", ["-6", "route", "del", "::/0", "table", "51820"]);
  host.calls.length = 0;
  await r.close();
  assert.deepEqual(host.state(), []);
  assert.deepEqual(host.writes, [`${SRC_VALID_MARK}=1`, `${SRC_VALID_MARK}=0`]);
  // Close deletes only the routes into the interface.
  assert.ok(host.calls.includes("ip -4 route del 0.0.0.0/0 dev weft0 table 51820"));
  const calls = host.calls.length;
  await r.close();
  assert.equal(host.calls.length, calls);
  assert.equal(host.writes.length, 2);
  // Never applied: close touches nothing.
  const fresh = new FakeHost();
  await fresh.routing().close();
  assert.deepEqual([fresh.calls, fresh.writes], [[], []]);
  // A sysctl already on is left on.
  const on = new FakeHost();
  on.sysctlValue = "1\n";
  const r2 = on.routing();
  await r2.apply(CONFIG);
  await r2.close();
  assert.deepEqual(on.writes, []);
});

Deno.test("a failure part way throws the first error and undoes what apply did", async () => {
  const host = new FakeHost();
  host.failOn = /^ip -6 rule add not/;
  await assert.rejects(
    host.routing().apply(CONFIG),
    (e: Error) => {
      assert.equal(
        e.message,
        `ip -6 rule add ${TABLE_RULE}: RTNETLINK: Bad rule`,
      );
      return true;
    },
  );
  assert.deepEqual(host.state(), []);
  assert.deepEqual(host.writes, [`${SRC_VALID_MARK}=1`, `${SRC_VALID_MARK}=0`]);
});

Deno.test("a missing ip is a clear error", async () => {
  const host = new FakeHost();
  host.missing = true;
  await assert.rejects(
    host.routing().apply(CONFIG),
    /routing the default route through the mesh needs iproute2 \(ip\).*install iproute2/,
  );
  assert.deepEqual(host.writes, [`${SRC_VALID_MARK}=1`, `${SRC_VALID_MARK}=0`]);
});

Deno.test("bad interfaces, marks, tables and families are refused before any command", async () => {
  const host = new FakeHost();
  const r = host.routing();
  for (const iface of ["", "a".repeat(16), "we ft", "a/b", "a:1", ".", "..", "\t", "ü".repeat(8)]) {
    await assert.rejects(r.apply({ ...CONFIG, iface }), /invalid interface name/, iface);
  }
  for (const mark of [0, -1, 1.5, 2 ** 32, NaN]) {
    await assert.rejects(r.apply({ ...CONFIG, mark }), /invalid mark/, `${mark}`);
  }
  for (const table of [0, 253, 254, 255, 2 ** 32, 3.5]) {
    await assert.rejects(r.apply({ ...CONFIG, table }), /invalid routing table/, `${table}`);
  }
  for (const families of [[], [5], [4, 0]] as unknown as (4 | 6)[][]) {
    await assert.rejects(r.apply({ ...CONFIG, families }), /invalid families/);
  }
  assert.deepEqual([host.calls, host.writes], [[], []]);
  await r.apply({ ...CONFIG, iface: "a".repeat(15), mark: 0xffffffff, table: 0xffffffff });
  assert.ok(
    host.calls.includes("ip -4 rule add not fwmark 4294967295 table 4294967295 priority 6185"),
  );
});

Deno.test("calls run one at a time, in order", async () => {
  const host = new FakeHost();
  const r = host.routing();
  const done: string[] = [];
  const a = r.apply(CONFIG).then(() => done.push("apply"));
  const b = r.apply({ ...CONFIG, iface: "bad name" }).catch(() => done.push("refused"));
  const c = r.close().then(() => done.push("close"));
  await Promise.all([a, b, c]);
  assert.deepEqual(done, ["apply", "refused", "close"]);
  assert.deepEqual(host.state(), []);
  assert.equal(host.sysctlValue, "0");
});

Deno.test({
  name: "LinuxDefaultRouting in a network namespace of its own (runs the inside: test there)",
  ignore: !CAN_RUN,
  fn: async () => {
    const rules =
      async () => [await must("ip", "rule", "show"), await must("ip", "-6", "rule", "show")];
    const before = await rules();
    const { success, text } = await runInsideNamespace(
      new URL(import.meta.url).pathname,
      "WEFT_DEFROUTE_TEST_NS",
      "weft-dr",
    );
    assert.ok(success, text);
    assert.match(text, /ok \| 1 passed \| 0 failed/, text);
    // The machine's own rules were never touched.
    assert.deepEqual(await rules(), before);
  },
});

Deno.test({
  name: "inside: apply, restart after a crash, close, on the real rules and routes",
  ignore: !INSIDE,
  fn: async () => {
    const ip = (...args: string[]) => must("ip", ...args);
    // A stand-in for the tunnel, and an underlay with the default routes. No link-local
    // addresses and no DAD, so nothing changes by itself while the test compares.
    // Veth pairs (this kernel may lack the dummy driver), both ends up.
    for (const dev of ["underlay0", "wtest0"]) {
      await ip("link", "add", dev, "type", "veth", "peer", "name", `${dev}p`);
      for (const end of [dev, `${dev}p`]) await ip("link", "set", end, "addrgenmode", "none");
      await ip("link", "set", `${dev}p`, "up");
    }
    await ip("addr", "add", "198.51.100.2/24", "dev", "underlay0");
    await ip("-6", "addr", "add", "2001:db8:1::2/64", "dev", "underlay0", "nodad");
    await ip("link", "set", "underlay0", "up");
    await ip("route", "add", "default", "dev", "underlay0");
    await ip("-6", "route", "add", "default", "dev", "underlay0");
    await ip("addr", "add", "10.96.0.1/16", "dev", "wtest0");
    await ip("link", "set", "wtest0", "up");

    // The kernel adds the IPv6 local and multicast routes of links coming up in its own time (on
    // a busy machine, after the first snapshot): waited for, so the snapshots compare ours only.
    const settled = await eventually(async () => {
      const local = await ip("-6", "route", "show", "table", "local");
      return local.includes("local 2001:db8:1::2 ") &&
        ["underlay0", "underlay0p", "wtest0", "wtest0p"].every((d) =>
          local.includes(`multicast ff00::/8 dev ${d} `)
        );
    }, HANG_GUARD_MS);
    assert.ok(settled, await ip("-6", "route", "show", "table", "local"));
    const snapshot = async () => [
      await ip("rule", "show"),
      await ip("-6", "rule", "show"),
      await ip("route", "show", "table", "all"),
      await ip("-6", "route", "show", "table", "all"),
    ];
    const before = await snapshot();
    const mark = async () => (await Deno.readTextFile(SRC_VALID_MARK)).trim();
    const markBefore = await mark();
    const config = { ...CONFIG, iface: "wtest0" };
    const r = new LinuxDefaultRouting();
    await r.apply(config);

    const ours = (s: string) => s.split("\n").filter((l) => /^77[56]\d:/.test(l));
    assert.deepEqual(ours(await ip("rule", "show")), [
      `${PS}:\tfrom all lookup main suppress_prefixlength 0`,
      `${P}:\tnot from all fwmark 0xca6c lookup 51820`,
    ]);
    assert.equal(ours(await ip("-6", "rule", "show")).length, 2);
    assert.equal(await mark(), "1");
    const get = (...args: string[]) => ip("route", "get", ...args);
    // Unmarked: into the tunnel; marked (the agent's underlay): the main table's default.
    assert.match(await get("203.0.113.5"), /dev wtest0 table 51820/);
    assert.match(await get("203.0.113.5", "mark", "51820"), /dev underlay0/);
    assert.doesNotMatch(await get("203.0.113.5", "mark", "51820"), /table|wtest0/);
    assert.match(await ip("-6", "route", "get", "2001:db8:ff::5"), /dev wtest0 table 51820/);
    assert.match(
      await ip("-6", "route", "get", "2001:db8:ff::5", "mark", "51820"),
      /dev underlay0/,
    );
    // The main table's more specific routes still win: the LAN, and the overlay itself.
    assert.match(await get("198.51.100.7"), /dev underlay0/);
    assert.doesNotMatch(await get("198.51.100.7"), /table/);
    assert.match(await get("10.96.3.4"), /dev wtest0/);
    assert.doesNotMatch(await get("10.96.3.4"), /table/);
    assert.match(await ip("-6", "route", "get", "2001:db8:1::9"), /dev underlay0/);
    const applied = await snapshot();

    // A crash: the next run's instance finds the rules and adds none twice.
    const restarted = new LinuxDefaultRouting();
    await restarted.apply(config);
    assert.deepEqual(await snapshot(), applied);
    await restarted.close();
    assert.deepEqual(await snapshot(), before);
    // The first instance turned src_valid_mark on; its close turns it off, the rest gone.
    await r.close();
    await r.close();
    assert.deepEqual(await snapshot(), before);
    assert.equal(await mark(), markBefore);

    // Without keepLocalRoutes, even the LAN goes into the tunnel; close leaves it as before.
    await r.apply({ ...config, keepLocalRoutes: false, families: [4] });
    assert.match(await get("198.51.100.7"), /dev wtest0 table 51820/);
    await r.close();
    assert.deepEqual(await snapshot(), before);
    assert.equal(await mark(), markBefore);

    // Blocked (changed in place from the tunnel): the internet is unreachable, both families;
    // the overlay, the LAN, an exempt address and the agent's marked traffic are not.
    await r.apply(config);
    await r.apply({ ...config, blocked: true, exempt: ["203.0.113.9"] });
    const fails = async (...args: string[]) => {
      const out = await sh("ip", ...args);
      return out.code === 0 ? `routed: ${out.stdout}` : out.stderr;
    };
    assert.match(await fails("route", "get", "203.0.113.5"), /No route to host/);
    assert.match(await fails("-6", "route", "get", "2001:db8:ff::5"), /No route to host/);
    assert.match(await get("203.0.113.5", "mark", "51820"), /dev underlay0/);
    assert.match(await get("203.0.113.9"), /dev underlay0/);
    assert.match(await get("10.96.3.4"), /dev wtest0/);
    assert.match(await get("198.51.100.7"), /dev underlay0/);
    // Back into the tunnel in place, then closed: as before.
    await r.apply(config);
    assert.match(await get("203.0.113.5"), /dev wtest0 table 51820/);
    await r.close();
    assert.deepEqual(await snapshot(), before);
    assert.equal(await mark(), markBefore);
    await sh("ip", "link", "del", "wtest0");
    await sh("ip", "link", "del", "underlay0");
  },
});

Deno.test("sweep: a crashed run's rules and default routes go, for both families", async () => {
  const calls: string[] = [];
  const routing = new LinuxDefaultRouting({
    run: (cmd, args) => {
      calls.push(`${cmd} ${args.join(" ")}`);
      return Promise.resolve({ code: 2, stdout: "", stderr: "RTNETLINK answers: No such file" });
    },
    sysctl: { read: () => Promise.resolve("0"), write: () => Promise.resolve() },
  });
  await routing.sweep(51820, 51820, "weft0");
  // Only the default routes into weft's own interface: wg-quick's in the same table stay.
  assert.ok(calls.includes("ip -4 route del 0.0.0.0/0 dev weft0 table 51820"), calls.join("\n"));
  assert.ok(!calls.some((c) => /route del \S+ table/.test(c)), calls.join("\n"));
  for (const f of ["-4", "-6"]) {
    assert.ok(
      calls.includes(`ip ${f} rule del not fwmark 51820 table 51820 priority 7760`),
      calls.join("\n"),
    );
    assert.ok(
      calls.includes(`ip ${f} rule del table main suppress_prefixlength 0 priority 7759`),
      calls.join("\n"),
    );
  }
});

Deno.test("exempt addresses stay on the host's routes, ahead of the tunnel's table", async () => {
  const host = new FakeHost();
  await host.routing().apply({ ...CONFIG, exempt: ["203.0.113.2", "2001:DB8::2", "203.0.113.2"] });
  assert.ok(host.calls.includes(`ip -4 rule add to 203.0.113.2 table main priority ${P - 2}`));
  assert.ok(host.calls.includes(`ip -6 rule add to 2001:db8::2 table main priority ${P - 2}`));
  assert.equal(
    host.calls.filter((c) => c.includes("rule add to")).length,
    2,
    "each address once, in its family",
  );
  await assert.rejects(
    () => host.routing().apply({ ...CONFIG, exempt: ["leader.example"] }),
    /invalid exempt address/,
  );
});
