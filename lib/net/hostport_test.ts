import assert from "node:assert/strict";
import {
  formatHostPort,
  HostPortError,
  type HostPortProblem,
  type HostPortRules,
  isLoopbackHost,
  parseHostPort,
} from "./hostport.ts";

function problem(text: string, rules?: HostPortRules): HostPortProblem | "ok" {
  try {
    parseHostPort(text, rules);
    return "ok";
  } catch (e) {
    assert.ok(e instanceof HostPortError, String(e));
    return e.code;
  }
}

Deno.test("hostport: IPv4, bracketed IPv6 and names, lowercased", () => {
  assert.deepEqual(parseHostPort("192.0.2.1:51820"), { host: "192.0.2.1", port: 51820 });
  assert.deepEqual(parseHostPort("[2001:DB8::1]:443"), { host: "2001:db8::1", port: 443 });
  assert.deepEqual(parseHostPort("Leader.Example.com:1"), { host: "leader.example.com", port: 1 });
  assert.deepEqual(parseHostPort("host.:65535"), { host: "host.", port: 65535 });
});

Deno.test("hostport: each problem has its code and a message saying what is wrong", () => {
  const cases: [string, HostPortProblem, RegExp][] = [
    ["[::1]80", "brackets", /is not \[IPV6\]:PORT/],
    ["[::1", "brackets", /is not \[IPV6\]:PORT/],
    ["[1.2.3.4]:80", "ipv6", /"1.2.3.4" is not an IPv6 address/],
    ["[fe80::1%eth0]:5", "ipv6", /not an IPv6 address/],
    ["192.0.2.1", "no-port", /has no port: expected HOST:PORT/],
    ["2001:db8::1:51820", "unbracketed", /need brackets, as in \[2001:db8::1\]:51820/],
    ["1.2.3:80", "host", /"1.2.3" is not an IP address or a host name/],
    ["999.1.1.1:80", "host", /not an IP address or a host name/],
    ["under_score:80", "host", /not an IP address or a host name/],
    ["a b:80", "host", /not an IP address or a host name/],
    [":80", "host", /not an IP address or a host name/],
    ["h:0", "port", /bad port "0" \(1 to 65535\)/],
    ["h:65536", "port", /bad port "65536"/],
    ["h:", "port", /bad port ""/],
    ["h:1e3", "port", /bad port "1e3"/],
    ["h:-1", "port", /bad port "-1"/],
    ["h:000001", "port", /bad port/],
  ];
  for (const [text, code, message] of cases) {
    assert.throws(() => parseHostPort(text), (e: unknown) => {
      assert.ok(e instanceof HostPortError, text);
      assert.equal(e.code, code, text);
      assert.match(e.message, message, text);
      return true;
    });
  }
  const e = (() => {
    try {
      parseHostPort("2001:db8::1:51820");
    } catch (e) {
      return e as HostPortError;
    }
  })()!;
  assert.equal(e.text, "2001:db8::1:51820");
  assert.equal(e.host, "2001:db8::1");
  assert.equal(e.portText, "51820");
});

Deno.test("hostport: minPort 0 for listeners", () => {
  assert.deepEqual(parseHostPort("127.0.0.1:0", { minPort: 0 }), { host: "127.0.0.1", port: 0 });
  assert.throws(() => parseHostPort("127.0.0.1:0"), /bad port "0" \(1 to 65535\)/);
  assert.throws(() => parseHostPort("h:x", { minPort: 0 }), /\(0 to 65535\)/);
});

Deno.test("hostport: host rules ip, name and any", () => {
  assert.equal(problem("example.com:1", { host: "ip" }), "host");
  assert.equal(problem("192.0.2.1:1", { host: "ip" }), "ok");
  assert.equal(problem("[::1]:1", { host: "ip" }), "ok");
  // `any` reads what was checked elsewhere: one word, the resolver judges it.
  assert.equal(problem("999.1.1.1:5", { host: "any" }), "ok");
  assert.equal(problem("under_score:5", { host: "any" }), "ok");
  for (const bad of ["a b:1", ":1", "a]b:1", "a\tb:1"]) {
    assert.equal(problem(bad, { host: "any" }), "host", bad);
  }
  assert.equal(problem("[nope]:1", { host: "any" }), "ipv6");
});

Deno.test("hostport: underscores and zones only where allowed (wg-quick files)", () => {
  assert.equal(problem("my_host.example:1"), "host");
  assert.deepEqual(parseHostPort("My_Host.example:1", { underscore: true }), {
    host: "my_host.example",
    port: 1,
  });
  assert.equal(problem("[fe80::1%eth0]:1"), "ipv6");
  // The zone is an interface name: it keeps its case.
  assert.deepEqual(parseHostPort("[FE80::1%Eth0]:1", { zone: true }), {
    host: "fe80::1%Eth0",
    port: 1,
  });
  for (const bad of ["[fe80::1%]:1", "[fe80::1%a b]:1", `[fe80::1%${"x".repeat(16)}]:1`]) {
    assert.equal(problem(bad, { zone: true }), "ipv6", bad);
  }
});

Deno.test("hostport: huge input is quoted cut short", () => {
  const e = (() => {
    try {
      parseHostPort("a".repeat(10_000) + "!:1");
    } catch (e) {
      return e as Error;
    }
  })()!;
  assert.ok(e.message.length < 200, e.message.slice(0, 200));
});

// Moved from wgquick_test.ts with wg-quick's own formatEndpoint.
Deno.test("formatEndpoint brackets IPv6 only", () => {
  assert.equal(formatHostPort({ host: "192.0.2.1", port: 1 }), "192.0.2.1:1");
  assert.equal(formatHostPort({ host: "fd00::1", port: 2 }), "[fd00::1]:2");
  assert.equal(formatHostPort({ host: "vpn.example", port: 3 }), "vpn.example:3");
});

Deno.test("hostport: format and parse round-trip", () => {
  for (const text of ["192.0.2.1:1", "[fd00::1]:2", "vpn.example:3", "[::ffff:1.2.3.4]:4"]) {
    assert.equal(formatHostPort(parseHostPort(text)), text);
  }
});

Deno.test("hostport: loopback hosts", () => {
  for (const h of ["127.0.0.1", "127.9.9.9", "::1", "0:0::1", "localhost", "LOCALHOST."]) {
    assert.ok(isLoopbackHost(h), h);
  }
  for (const h of ["::", "0.0.0.0", "128.0.0.1", "::2", "example.com", "localhost.example"]) {
    assert.ok(!isLoopbackHost(h), h);
  }
});
