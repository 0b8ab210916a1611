import assert from "node:assert/strict";
import { WARM_UP_ROUNDS, warmDriversOf, warmUpAllowedByEnv } from "./warm_up.ts";
import { JIT_V8_FLAGS } from "./jit.ts";
import { canBuildLabs, Lab } from "../../tests/fixtures/netns.ts";
import { MemoryNetwork } from "../../drivers/memory.ts";
import type { PacketDevice } from "../io/driver.ts";

const CHILD = new URL("../../tests/fixtures/warm_up_child.ts", import.meta.url).pathname;

/**
 * Runs the fixture in a fresh Deno (the warm-up runs once per process), as root in a namespace
 * of its own with a TUN named for this lab; its JSON line.
 */
async function child(
  args: string[],
  v8Flags: string[] = [],
  output: string[] = [],
): Promise<unknown> {
  const lab = await Lab.create(["w"]);
  try {
    // No IPv6 on the new TUN: the host's own chatter (router solicitations) would reach the
    // agent's device as drops the test counts.
    for (const conf of ["all", "default"]) {
      await lab.exec("w", "sysctl", "-qw", `net.ipv6.conf.${conf}.disable_ipv6=1`);
    }
    const out = await lab.exec(
      "w",
      "env",
      "WEFT_WARM_UP=",
      Deno.execPath(),
      "run",
      "-A",
      ...(v8Flags.length ? [`--v8-flags=${v8Flags.join(",")}`] : []),
      CHILD,
      args[0],
      `wwarm${lab.tag}`,
      ...args.slice(1),
    );
    // V8's traces (--trace-opt) go to stdout too.
    output.push(out.stderr + out.stdout);
    assert.equal(out.code, 0, `the child ran: ${output.at(-1)!.slice(-2000)}`);
    // One JSON object on a line; V8's trace lines may come before and after it.
    return JSON.parse(out.stdout.match(/\{"[a-z]+":.*\}$/m)![0]);
  } finally {
    await lab.destroy();
  }
}

interface AgentRun {
  events: { event: string; fields: Record<string, unknown> }[];
  sends: string[];
  peers: { key: string; counters: Record<string, number> }[];
  configured: string;
  stats: {
    handshakesReceived: number;
    cookieRepliesSent: number;
    listenerErrors: number;
    drops: Record<string, number>;
  };
}

const needsLab = async () => Deno.build.os !== "linux" || !(await canBuildLabs());

/**
 * The agent's run with the warm-up: it ran before the agent started, through the real handshake
 * and per-packet code, and the agent's own device, peers, counters and transport show none of it.
 */
function assertWarmedApart(r: AgentRun): void {
  const names = r.events.map((e) => e.event);
  const warmed = names.indexOf("data path warmed");
  assert.ok(warmed >= 0, `the warm-up ran: ${names.join(", ")}`);
  assert.ok(warmed < names.indexOf("agent started"), names.join(", "));
  const f = r.events[warmed].fields;
  // The pair's device code sealed and opened transport messages after a real handshake, over
  // twins of the TUN and UDP drivers: all the rounds, or as many as the time budget allowed.
  assert.ok(Number(f.rounds) > 0 && Number(f.rounds) <= WARM_UP_ROUNDS, JSON.stringify(f));
  assert.ok(Number(f.sealed) >= 2 * Number(f.rounds), JSON.stringify(f));
  assert.equal(f.opened, f.sealed, JSON.stringify(f));
  assert.equal(f.handshakes, 2, JSON.stringify(f));
  // The host's first chatter (a router solicitation to a group) dropped, as the agent's is.
  assert.ok(Number(f.chatter) > 0, JSON.stringify(f));
  // Some of them as the agent's own packets go: through the poller's loop and the event loop.
  assert.ok(Number(f.polled) > 0 && Number(f.polled) < Number(f.rounds), JSON.stringify(f));
  // Nothing of it reached the agent's device: its one configured peer, untouched counters,
  // nothing handed to its transport, no handshake received and no drop counted.
  assert.deepEqual(r.peers.map((p) => p.key), [r.configured]);
  for (const [k, v] of Object.entries(r.peers[0].counters)) assert.equal(v, 0, k);
  assert.deepEqual(r.sends, []);
  const { drops, ...stats } = r.stats;
  assert.deepEqual(stats, { handshakesReceived: 0, cookieRepliesSent: 0, listenerErrors: 0 });
  for (const [k, v] of Object.entries(drops)) assert.equal(v, 0, `drops: ${k}`);
}

Deno.test({
  name: "warm-up: a TUN agent runs packets through the real data path before its first, " +
    "and its own device, peers, counters and transport show none of them",
  ignore: await needsLab(),
  fn: async () => assertWarmedApart(await child(["agent"]) as AgentRun),
});

Deno.test({
  name: "warm-up: a mesh member's agent (TUN split for its control stack, UDP and TCP under " +
    "a relay mux) is warmed on twins of those too, and shows none of it",
  ignore: await needsLab(),
  fn: async () => assertWarmedApart(await child(["agent", "mesh"]) as AgentRun),
});

Deno.test({
  name: "warm-up: a TUN agent started with warmUp: false starts without it",
  ignore: await needsLab(),
  fn: async () => {
    const r = await child(["agent", "off"]) as AgentRun;
    const names = r.events.map((e) => e.event);
    assert.ok(names.includes("agent started"), names.join(", "));
    assert.ok(!names.includes("data path warmed"), names.join(", "));
  },
});

Deno.test({
  name: "warm-up: V8 compiles the device's per-packet functions with an optimising tier",
  ignore: await needsLab(),
  fn: async () => {
    const out: string[] = [];
    const flags = [...JIT_V8_FLAGS, "--allow-natives-syntax", "--trace-opt"];
    const r = await child(["tiers"], flags, out) as { before: boolean[]; rounds: number };
    assert.deepEqual(r.before, [false, false], "not optimised before the warm-up");
    assert.ok(r.rounds > 0);
    // Optimised code may be thrown away again (V8 deoptimises on its own: a collection's
    // tenuring decision, feedback a 2-call Maglev compile did not have); that it was compiled
    // is what the warm-up does.
    for (const f of ["onPlaintext", "onTransport"]) {
      assert.match(out[0], new RegExp(`completed compiling .*<JSFunction ${f} `), f);
    }
  },
});

Deno.test("warm-up: none over drivers it has no twins of (memory, userspace)", () => {
  const net = new MemoryNetwork({ manual: true });
  const packets: PacketDevice = {
    name: "test",
    mtu: 1420,
    start() {},
    write() {},
    close: () => Promise.resolve(),
  };
  assert.equal(warmDriversOf(packets, net.bind("198.18.0.1", 51820)), null);
});

Deno.test("warm-up: WEFT_WARM_UP=0 turns it off, anything else leaves it on", () => {
  const saved = Deno.env.get("WEFT_WARM_UP");
  try {
    for (const [text, on] of [["0", false], ["1", true], ["", true], ["no", true]] as const) {
      Deno.env.set("WEFT_WARM_UP", text);
      assert.equal(warmUpAllowedByEnv(), on, text);
    }
    Deno.env.delete("WEFT_WARM_UP");
    assert.equal(warmUpAllowedByEnv(), true, "on by default");
  } finally {
    saved === undefined ? Deno.env.delete("WEFT_WARM_UP") : Deno.env.set("WEFT_WARM_UP", saved);
  }
});
