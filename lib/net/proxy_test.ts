import assert from "node:assert/strict";
import {
  bypassesProxy,
  parseNoProxy,
  parseProxyUrl,
  proxyAuthorization,
  proxyFromEnv,
  proxyLabel,
} from "./proxy.ts";

const envOf = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("parseProxyUrl: scheme, host, port, credentials percent-decoded", () => {
  assert.deepEqual(parseProxyUrl("http://198.51.100.1:3128"), {
    scheme: "http",
    host: "198.51.100.1",
    port: 3128,
  });
  // No scheme: http; no port: 1080 (curl's); a trailing slash as tools write it.
  assert.deepEqual(parseProxyUrl("Proxy.Example.com/"), {
    scheme: "http",
    host: "proxy.example.com",
    port: 1080,
  });
  assert.deepEqual(parseProxyUrl("HTTP://[2001:db8::1]:8080"), {
    scheme: "http",
    host: "2001:db8::1",
    port: 8080,
  });
  assert.deepEqual(parseProxyUrl("http://us%40er:p%3Ass@w0rd@proxy:3128"), {
    scheme: "http",
    host: "proxy",
    port: 3128,
    username: "us@er",
    password: "p:ss@w0rd",
  });
  assert.deepEqual(parseProxyUrl("http://user@proxy:3128"), {
    scheme: "http",
    host: "proxy",
    port: 3128,
    username: "user",
    password: "",
  });
});

Deno.test("parseProxyUrl: bad values are clear errors that never repeat the password", () => {
  const bad: [string, RegExp][] = [
    ["", /empty/],
    ["https://proxy:443", /https:\/\/ proxies .* not supported/],
    ["socks5://proxy:1080", /socks5:\/\/ proxies are not supported/],
    ["http://proxy:99999", /port "99999" is not 1 to 65535/],
    ["http://proxy:", /port "" is not/],
    ["http://proxy:3128/path", /no path/],
    ["http://pro xy:3128", /not a host name/],
    ["http://[::1:3128", /not \[IPv6\]:port/],
    ["http://u:%zz@proxy:3128", /password has a bad %-escape/],
  ];
  for (const [text, re] of bad) {
    assert.throws(() => parseProxyUrl(text), (e: Error) => {
      assert.match(e.message, re, text);
      assert.ok(!e.message.includes("%zz"), e.message);
      return true;
    });
  }
});

Deno.test("proxyLabel has no credentials; proxyAuthorization is Basic over UTF-8", () => {
  const url = parseProxyUrl("http://al%C3%AFce:s3cret@proxy:3128");
  assert.equal(proxyLabel(url), "http://proxy:3128");
  assert.equal(proxyLabel(parseProxyUrl("http://[2001:db8::1]:1")), "http://[2001:db8::1]:1");
  // "alïce:s3cret" in UTF-8, base64.
  assert.equal(proxyAuthorization(url), `Basic ${btoa("al\xc3\xafce:s3cret")}`);
  assert.equal(proxyAuthorization(parseProxyUrl("proxy:1")), undefined);
});

Deno.test("NO_PROXY: names with and without a dot, *, IPs, CIDRs, ports", () => {
  const rules = parseNoProxy(
    " example.com, .corp.test ,10.0.0.0/8,192.0.2.7, 2001:db8::/32, [2001:db8:1::1]:443, " +
      "db.internal:5432,,LOCALHOST",
  );
  const yes: [string, number][] = [
    ["example.com", 1],
    ["www.Example.com.", 1],
    ["corp.test", 1], // a leading dot matches the name itself too (curl)
    ["a.b.corp.test", 1],
    ["10.1.2.3", 51820],
    ["192.0.2.7", 1],
    ["2001:db8:ffff::1", 1],
    ["[2001:db8::5]", 1],
    ["db.internal", 5432],
    ["localhost", 1],
  ];
  const no: [string, number][] = [
    ["notexample.com", 1],
    ["example.com.evil", 1],
    ["11.0.0.1", 1],
    ["192.0.2.8", 1],
    ["2001:db9::1", 1],
    ["db.internal", 5433],
    ["198.51.100.1", 51820],
  ];
  for (const [h, p] of yes) assert.ok(bypassesProxy(rules, h, p), `${h}:${p} bypasses`);
  for (const [h, p] of no) assert.ok(!bypassesProxy(rules, h, p), `${h}:${p} goes through`);
  // [v6]:port matches that port only.
  assert.ok(bypassesProxy(rules, "2001:db8:1::1", 443));
  assert.ok(bypassesProxy(rules, "2001:db8:1::1", 80)); // also inside 2001:db8::/32
  assert.ok(!bypassesProxy(parseNoProxy("[2001:db9::1]:443"), "2001:db9::1", 80));
  assert.ok(bypassesProxy(parseNoProxy("*"), "anything", 1));
  assert.ok(bypassesProxy(parseNoProxy(" * "), "203.0.113.1", 1));
  assert.deepEqual(parseNoProxy(""), []);
  // This host's loopback never goes through the proxy, whatever the list says.
  for (const h of ["127.0.0.1", "127.9.9.9", "::1", "[::1]", "localhost", "LocalHost."]) {
    assert.ok(bypassesProxy([], h, 51820), h);
  }
  assert.ok(!bypassesProxy([], "128.0.0.1", 51820));
  assert.throws(() => parseNoProxy("10.0.0.0/33"), /NO_PROXY entry "10.0.0.0\/33".*33/);
  assert.throws(() => parseNoProxy("a/b"), /not a name or an address/);
});

Deno.test("proxyFromEnv: lowercase wins, then ALL_PROXY; empty is unset; NO_PROXY likewise", () => {
  assert.equal(proxyFromEnv(envOf({})), null);
  assert.equal(proxyFromEnv(envOf({ https_proxy: " ", HTTP_PROXY: "http://p:1" })), null);
  const both = proxyFromEnv(envOf({ https_proxy: "http://low:1", HTTPS_PROXY: "http://up:2" }))!;
  assert.equal(both.from, "https_proxy");
  assert.equal(both.url.host, "low");
  assert.equal(proxyFromEnv(envOf({ HTTPS_PROXY: "up:2" }))!.from, "HTTPS_PROXY");
  const all = proxyFromEnv(envOf({ ALL_PROXY: "http://all:3", all_proxy: "" }))!;
  assert.deepEqual([all.from, all.url.host], ["ALL_PROXY", "all"]);
  assert.equal(
    proxyFromEnv(envOf({ ALL_PROXY: "all:3", HTTPS_PROXY: "up:2" }))!.from,
    "HTTPS_PROXY",
  );
  const np = proxyFromEnv(
    envOf({ HTTPS_PROXY: "up:2", no_proxy: "low.test", NO_PROXY: "up.test" }),
  )!;
  assert.ok(bypassesProxy(np.bypass, "low.test", 1));
  assert.ok(!bypassesProxy(np.bypass, "up.test", 1));
  assert.throws(
    () => proxyFromEnv(envOf({ ALL_PROXY: "socks5://h:1" })),
    /^Error: ALL_PROXY: socks5:\/\/ proxies are not supported.*--proxy none/,
  );
  assert.throws(
    () => proxyFromEnv(envOf({ HTTPS_PROXY: "up:2", NO_PROXY: "1.2.3.4/40" })),
    /^Error: NO_PROXY: NO_PROXY entry/,
  );
});
