import assert from "node:assert/strict";
import { runDatapathBench } from "./datapath.ts";

Deno.test({
  name: "datapath bench: both modes carry every packet and give a figure each way",
  ignore: Deno.build.os !== "linux",
  async fn() {
    // Few rounds: this checks the bench works (it throws when a packet is lost or the mode it
    // measures was not the one in use), not how fast anything is.
    const res = await runDatapathBench(100, 1);
    assert.ok(res !== null);
    assert.deepEqual(
      res.rows.map((r) => `${r.scenario} ${r.path}`),
      ["bulk send", "bulk receive", "small send", "small receive"],
    );
    for (const r of res.rows) {
      assert.ok(r["copy µs/pkt"] > 0 && r["zero-copy µs/pkt"] > 0, JSON.stringify(r));
    }
  },
});
