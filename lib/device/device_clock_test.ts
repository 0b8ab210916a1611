/**
 * With the system clock, the packet paths read the time once per event-loop task (a batch), not
 * once per packet: packets of one task share a reading, the next task reads afresh.
 */
import assert from "node:assert/strict";
import { Device } from "./device.ts";
import { nobleAead, nobleDh } from "../crypto/noble.ts";
import { encodeKey, generatePrivateKey, publicKeyOf } from "../crypto/keys.ts";
import { MemoryNetwork } from "../../drivers/memory.ts";
import { RecordingPackets, udp } from "../../tests/fixtures/mesh.ts";

Deno.test("device: the system clock is read once per task on the packet paths", async () => {
  const net = new MemoryNetwork({ manual: true });
  const ka = generatePrivateKey();
  const kb = generatePrivateKey();
  const pa = new RecordingPackets();
  const pb = new RecordingPackets();
  const suite = { aead: nobleAead, dh: nobleDh };
  const a = new Device({
    privateKey: ka,
    suite,
    transport: net.bind("192.0.2.1", 1),
    packets: pa,
    tickMs: 0,
  });
  const b = new Device({
    privateKey: kb,
    suite,
    transport: net.bind("192.0.2.2", 1),
    packets: pb,
    tickMs: 0,
  });
  a.setPeer({
    publicKey: encodeKey(publicKeyOf(kb)),
    endpoint: "192.0.2.2:1",
    allowedIps: ["10.0.0.2/32"],
  });
  b.setPeer({
    publicKey: encodeKey(publicKeyOf(ka)),
    endpoint: "192.0.2.1:1",
    allowedIps: ["10.0.0.1/32"],
  });
  a.start();
  b.start();
  pa.inject(udp("10.0.0.1", "10.0.0.2", "up"));
  net.deliver();
  assert.equal(pb.written.length, 1);
  const session = () => b.peer(encodeKey(publicKeyOf(ka)))!.current!;
  const waitAMoment = async () => {
    const t = performance.now();
    while (performance.now() - t < 2) await new Promise((r) => setTimeout(r, 1));
  };
  await waitAMoment();
  // One task: both packets are stamped with the same reading.
  pa.inject(udp("10.0.0.1", "10.0.0.2", "one"));
  net.deliver();
  const first = session().lastReceived;
  await waitAMoment(); // the next packet comes in a later task
  pa.inject(udp("10.0.0.1", "10.0.0.2", "two"));
  net.deliver();
  assert.ok(session().lastReceived > first, "a new task reads the clock again");
  const second = session().lastReceived;
  const t = performance.now();
  while (performance.now() - t < 2) { /* time passes within this task */ }
  pa.inject(udp("10.0.0.1", "10.0.0.2", "three"));
  net.deliver();
  assert.equal(session().lastReceived, second, "the same task keeps its reading");
  assert.equal(pb.written.length, 4);
  await a.close();
  await b.close();
});
