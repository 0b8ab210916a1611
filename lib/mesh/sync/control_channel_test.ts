import assert from "node:assert/strict";
import { ControlChannel } from "./control_channel.ts";
import type { ControlMessage } from "./protocol.ts";
import { Agent, type ControlledAgent } from "../../agent/agent.ts";
import { MemoryNetwork } from "../../../drivers/memory.ts";
import { generateKeyPair } from "../../crypto/keys.ts";
import { createLogger, nullLogger } from "../../log/logger.ts";
import { CONTROL_PORT } from "../../members/ports.ts";

/** Two agents with control stacks, 10.78.0.1 and .2, on a memory underlay. */
async function pair(): Promise<ControlledAgent[]> {
  const net = new MemoryNetwork();
  const keys = [generateKeyPair(), generateKeyPair()];
  return await Promise.all(keys.map((k, i) =>
    Agent.start({
      privateKey: k.privateKey,
      addresses: [`10.78.0.${i + 1}/24`],
      transport: net.bind(`192.0.2.${i + 1}`, 51820),
      peers: [{
        publicKey: keys[1 - i].publicKey,
        endpoint: `192.0.2.${2 - i}:51820`,
        allowedIps: [`10.78.0.${2 - i}/32`],
      }],
      logger: nullLogger,
      control: true,
      probe: null,
    })
  ));
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
}

Deno.test("control channel: messages reach the other member's listener with their sender", async () => {
  const agents = await pair();
  const [a, b] = agents.map((x) => new ControlChannel(x.control, nullLogger));
  try {
    const got: [ControlMessage, string][] = [];
    b.listen((msg, from) => got.push([msg, from]));
    a.send("10.78.0.2", { t: "changed", v: 3 });
    await until(() => got.length > 0);
    assert.deepEqual(got, [[{ t: "changed", v: 3 }, "10.78.0.1"]]);
  } finally {
    a.close();
    b.close();
    for (const x of agents) await x.close();
  }
});

Deno.test("control channel: several listeners each get every message until they stop", async () => {
  const agents = await pair();
  const [a, b] = agents.map((x) => new ControlChannel(x.control, nullLogger));
  try {
    const sync: string[] = [];
    const paths: string[] = [];
    b.listen((msg) => sync.push(msg.t));
    const stop = b.listen((msg) => paths.push(msg.t));
    a.send("10.78.0.2", { t: "changed", v: 3 });
    a.send("10.78.0.2", { t: "callme", from: "k", c: [] });
    await until(() => paths.length === 2);
    stop();
    a.send("10.78.0.2", { t: "changed", v: 4 });
    await until(() => sync.length === 3);
    assert.deepEqual(sync, ["changed", "callme", "changed"]);
    assert.deepEqual(paths, ["changed", "callme"]);
  } finally {
    a.close();
    b.close();
    for (const x of agents) await x.close();
  }
});

Deno.test("control channel: probes are answered and never reach the listener", async () => {
  const agents = await pair();
  const [a, b] = agents.map((x) => new ControlChannel(x.control, nullLogger));
  try {
    const heard: string[] = [];
    a.listen((msg) => heard.push(msg.t));
    b.listen((msg) => heard.push(msg.t));
    const rtt = await a.prober.probe("10.78.0.2", 3000);
    assert.ok(rtt !== null && rtt >= 0, `rtt ${rtt}`);
    assert.deepEqual(heard, []);
  } finally {
    a.close();
    b.close();
    for (const x of agents) await x.close();
  }
});

Deno.test("control channel: junk is dropped and counted; a failed send is only logged (debug)", async () => {
  const agents = await pair();
  const lines: string[] = [];
  const logger = createLogger({ level: "debug", sink: (l) => lines.push(l) });
  const a = new ControlChannel(agents[0].control, logger);
  const b = new ControlChannel(agents[1].control, nullLogger);
  try {
    const heard: string[] = [];
    b.listen((msg) => heard.push(msg.t));
    agents[0].control.send(
      { address: "10.78.0.2", port: CONTROL_PORT },
      new TextEncoder().encode("not json"),
      CONTROL_PORT,
    );
    a.send("10.78.0.2", { t: "changed", v: 1 });
    await until(() => heard.length > 0 && b.malformed > 0);
    assert.deepEqual(heard, ["changed"], "only the well-formed message");
    assert.equal(b.malformed, 1, "the junk counted");
    assert.equal(a.malformed, 0);
    a.send("not an address", { t: "changed", v: 1 });
    assert.match(lines.join("\n"), /control send failed/);
  } finally {
    a.close();
    b.close();
    for (const x of agents) await x.close();
  }
});

Deno.test("control channel: close fails the probes in flight", async () => {
  const agents = await pair();
  const a = new ControlChannel(agents[0].control, nullLogger);
  try {
    // Nobody answers on .2's control port (no channel there): the probe waits until closed.
    const pending = a.prober.probe("10.78.0.2", 60_000);
    a.close();
    assert.equal(await pending, null);
  } finally {
    for (const x of agents) await x.close();
  }
});
