import assert from "node:assert/strict";
import { WARM_UP_ROUNDS, warmDataPath, warmUpEnabled } from "./warm_up.ts";
import { JIT_V8_FLAGS } from "./jit.ts";
import { selectSuite } from "../crypto/select.ts";

const CHILD = new URL("../../tests/fixtures/warm_up_child.ts", import.meta.url).pathname;

/** Runs the fixture in a fresh Deno (the warm-up runs once per process); its last line as JSON. */
async function child(
  mode: string,
  v8Flags: string[] = [],
  stderr: string[] = [],
  warmUp = "1",
): Promise<unknown> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      ...(v8Flags.length ? [`--v8-flags=${v8Flags.join(",")}`] : []),
      CHILD,
      mode,
    ],
    env: { WEFT_WARM_UP: warmUp },
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  // V8's traces (--trace-opt) go to stdout too.
  stderr.push(new TextDecoder().decode(out.stderr) + text);
  assert.equal(out.code, 0, `the child ran: ${stderr.at(-1)!.slice(-2000)}`);
  // The fixture prints one JSON object on a line; V8's trace lines may come before and after it.
  return JSON.parse(text.match(/\{"[a-z]+":.*\}$/m)![0]);
}

Deno.test({
  name: "warm-up: asked for, an agent warms its data path before its first packet, sending nothing",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const r = await child("agent") as {
      events: { event: string; fields: Record<string, unknown> }[];
      sends: number;
      peer: { txPackets: number; txBytes: number; rxBytes: number };
    };
    const names = r.events.map((e) => e.event);
    const warmed = names.indexOf("data path warmed");
    assert.ok(warmed >= 0, `the warm-up ran: ${names.join(", ")}`);
    assert.ok(warmed < names.indexOf("agent started"), names.join(", "));
    const f = r.events[warmed].fields;
    // All of them, or as many as its time budget allowed on a busy machine.
    assert.ok(Number(f.rounds) > 0 && Number(f.rounds) <= WARM_UP_ROUNDS, JSON.stringify(f));
    assert.equal(f.underlay, "udp", "over the agent's own UDP driver");
    // The throwaway pair's packets went neither through the agent's transport nor to its peer.
    assert.equal(r.sends, 0);
    assert.deepEqual(r.peer, { txPackets: 0, txBytes: 0, rxBytes: 0 });
  },
});

Deno.test({
  name: "warm-up: not asked for, an agent starts without it",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const r = await child("agent", [], [], "") as { events: { event: string }[] };
    const names = r.events.map((e) => e.event);
    assert.ok(names.includes("agent started"), names.join(", "));
    assert.ok(!names.includes("data path warmed"), names.join(", "));
  },
});

Deno.test({
  name: "warm-up: V8 compiles the device's per-packet functions with an optimising tier",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const err: string[] = [];
    const flags = [...JIT_V8_FLAGS, "--allow-natives-syntax", "--trace-opt"];
    const r = await child("tiers", flags, err) as { before: boolean[]; rounds: number };
    assert.deepEqual(r.before, [false, false], "not optimised before the warm-up");
    assert.ok(r.rounds > 0);
    // Optimised code may be thrown away again (V8 deoptimises on its own: a collection's
    // tenuring decision, feedback a 2-call Maglev compile did not have); that it was compiled
    // is what the warm-up does.
    for (const f of ["onPlaintext", "onTransport"]) {
      assert.match(err[0], new RegExp(`completed compiling .*<JSFunction ${f} `), f);
    }
  },
});

Deno.test("warm-up: over the memory network, every round trip carried", async () => {
  const w = await warmDataPath(selectSuite());
  assert.equal(w.underlay, "memory");
  assert.ok(w.rounds > 0 && w.rounds <= WARM_UP_ROUNDS, JSON.stringify(w));
});

Deno.test("warm-up: WEFT_WARM_UP=1 turns it on, anything else leaves it off", () => {
  const saved = Deno.env.get("WEFT_WARM_UP");
  try {
    for (const [text, on] of [["0", false], ["1", true], ["", false], ["yes", false]] as const) {
      Deno.env.set("WEFT_WARM_UP", text);
      assert.equal(warmUpEnabled(), on, text);
    }
  } finally {
    saved === undefined ? Deno.env.delete("WEFT_WARM_UP") : Deno.env.set("WEFT_WARM_UP", saved);
  }
  Deno.env.delete("WEFT_WARM_UP");
  assert.equal(warmUpEnabled(), false, "off by default");
  if (saved !== undefined) Deno.env.set("WEFT_WARM_UP", saved);
});
