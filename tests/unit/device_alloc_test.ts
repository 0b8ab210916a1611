/**
 * The device's transport path allocates nothing per packet: two devices push packets both ways
 * (several lengths) in a child process under `--trace-gc`, and the collections between two
 * markers are counted. A control that allocates one small buffer per round shows the counting
 * works. With a stand-in cipher that allocates nothing this measures the device's own code; with
 * libsodium, the path as the agent runs it when libsodium is installed. (node:crypto and noble
 * make cipher objects per packet; the device's doc says so.)
 */
import assert from "node:assert/strict";
import { loadSodium } from "../../lib/crypto/sodium.ts";

async function collections(mode: string): Promise<number> {
  const child = new URL("./device_alloc_child.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--trace-gc", child, mode],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert.equal(out.code, 0);
  const text = new TextDecoder().decode(out.stdout);
  const start = text.indexOf("MEASURE-START");
  const end = text.indexOf("MEASURE-END");
  assert.ok(start >= 0 && end > start, text.slice(-500));
  return text.slice(start, end).split("\n").filter((l) => /Scavenge|Mark-Compact/.test(l))
    .length;
}

Deno.test("device: the transport path does not allocate per packet", async () => {
  assert.ok(await collections("allocating") > 0, "the control did not register any collection");
  assert.equal(await collections("stub"), 0, "the device's own code allocated");
});

Deno.test({
  name: "device: with libsodium, sealing and opening add no allocation either",
  ignore: loadSodium() === null,
  fn: async () => {
    assert.equal(await collections("sodium"), 0);
  },
});
