import assert from "node:assert/strict";
import { formatEtcdUrl, MAX_ENDPOINTS, parseEtcdUrl } from "./url.ts";

Deno.test("parseEtcdUrl reads one endpoint and several, in order", () => {
  assert.deepEqual(parseEtcdUrl("etcd://127.0.0.1:2379").endpoints, [{
    host: "127.0.0.1",
    port: 2379,
  }]);
  const url = parseEtcdUrl("etcd://10.0.0.1:2379,Etcd-2.example:2379,[2001:db8::1]:2380/");
  assert.deepEqual(url.endpoints, [
    { host: "10.0.0.1", port: 2379 },
    { host: "etcd-2.example", port: 2379 },
    { host: "2001:db8::1", port: 2380 },
  ]);
  assert.deepEqual(
    formatEtcdUrl(url),
    "etcd://10.0.0.1:2379,etcd-2.example:2379,[2001:db8::1]:2380",
  );
});

Deno.test("parseEtcdUrl says what is wrong", () => {
  const cases: [string, string][] = [
    ["http://127.0.0.1:2379", "expected etcd://HOST:PORT"],
    ["etcd://", "no endpoint"],
    ["etcd://127.0.0.1", "has no port"],
    ["etcd://127.0.0.1:0", "bad port"],
    ["etcd://127.0.0.1:65536", "bad port"],
    ["etcd://2001:db8::1:2379", "need brackets"],
    ["etcd://a:1,,b:2", "an empty endpoint"],
    ["etcd://a:1,", "an empty endpoint"],
    ["etcd://a:1,A:1", "named twice"],
    ["etcd://user@a:1", "no path, query or user"],
    ["etcd://a:1/weft", "no path, query or user"],
    ["etcd://a b:1", "no path, query or user"],
    ["etcd://bad_name:1", "is not an IP address or a host name"],
  ];
  for (const [text, why] of cases) {
    assert.throws(() => parseEtcdUrl(text), (e: Error) => e.message.includes(why), text);
  }
  const many = Array.from({ length: MAX_ENDPOINTS + 1 }, (_, i) => `10.0.0.${i + 1}:2379`);
  assert.throws(() => parseEtcdUrl(`etcd://${many.join(",")}`), /more than/);
});
