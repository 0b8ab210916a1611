import assert from "node:assert/strict";
import { runControlSendBench } from "./control_send.ts";

Deno.test({
  name: "control send bench: every datagram reaches its member, with a figure for each path",
  ignore: Deno.build.os !== "linux",
  async fn() {
    // Few members and rounds: this checks the bench works, not how fast anything is.
    const res = await runControlSendBench(4, 16, 1);
    assert.ok(res !== null);
    assert.equal(res["received/sent"], 1, JSON.stringify(res));
    for (
      const k of ["push µs/dgram", "window µs/dgram", "data push µs/pkt", "data window µs/pkt"]
    ) {
      assert.ok((res[k] as number) > 0, `${k}: ${JSON.stringify(res)}`);
    }
  },
});
