import assert from "node:assert/strict";
import { openPacketSide, type PacketSideOptions } from "./packet_side.ts";
import type { PacketDevice } from "../io/driver.ts";
import { nullLogger } from "../log/logger.ts";
import { UserspaceStack } from "../../drivers/userspace.ts";
import { SplitDevice } from "../../drivers/split.ts";

const base: PacketSideOptions = {
  mode: "userspace",
  mtu: 1420,
  own: { ipv4: "10.77.0.1" },
  tun: { name: "weft-unused", addresses: [], routes: [] },
  logger: nullLogger,
};

Deno.test("openPacketSide: userspace mode makes the stack, which is the device", async () => {
  const side = await openPacketSide(base);
  try {
    assert.ok(side.userspace instanceof UserspaceStack);
    assert.equal(side.packets, side.userspace);
    assert.equal(side.control, null);
  } finally {
    await side.packets.close();
  }
});

Deno.test("openPacketSide: with control, a split in front; a device given is used as it is", async () => {
  let closed = 0;
  const given: PacketDevice = {
    name: "given0",
    mtu: 1280,
    start: () => {},
    write: () => {},
    close: () => {
      closed++;
      return Promise.resolve();
    },
  };
  const plain = await openPacketSide({ ...base, given });
  assert.equal(plain.packets, given);
  assert.equal(plain.userspace, null);
  const side = await openPacketSide({ ...base, given, control: true });
  assert.ok(side.packets instanceof SplitDevice);
  assert.equal(side.packets.inner, given);
  assert.equal(side.control, side.packets.control);
  assert.equal(side.userspace, null);
  // Closing what the device reads closes everything below it.
  await side.packets.close();
  assert.equal(closed, 1);
});

Deno.test("openPacketSide: tun mode off Linux, or a TUN that cannot open, fails naming why", async () => {
  // A name the kernel refuses: nothing is left open (there is nothing to close).
  await assert.rejects(
    openPacketSide({ ...base, mode: "tun", tun: { ...base.tun, name: "bad/name" } }),
  );
});
