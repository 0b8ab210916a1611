import assert from "node:assert/strict";
import { sourceKey } from "./source_key.ts";

Deno.test("sourceKey: IPv4 as it is, IPv6 by its /64 in every spelling", () => {
  assert.equal(sourceKey("192.0.2.7"), "192.0.2.7");
  assert.equal(sourceKey("::ffff:192.0.2.7"), "192.0.2.7");
  const key = "2001:db8:0:1::/64";
  for (
    const a of [
      "2001:db8:0:1::7",
      "2001:DB8:0000:0001:ffff::1",
      "2001:db8:0:1:1:2:3:4",
      "2001:db8::1:0:0:0:9",
      "2001:db8:0:1::7%eth0",
      "2001:db8:0:1::192.0.2.1",
    ]
  ) assert.equal(sourceKey(a), key, a);
  assert.equal(sourceKey("2001:db8::"), "2001:db8:0:0::/64");
  assert.equal(sourceKey("::1"), "0:0:0:0::/64");
  assert.equal(sourceKey("fe80::1"), "fe80:0:0:0::/64");
  assert.notEqual(sourceKey("2001:db8:0:2::7"), key);
});
