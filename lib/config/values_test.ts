import assert from "node:assert/strict";
import { ConfigError } from "./config_error.ts";
import type { ParseContext } from "./combinators.ts";
import { flagInput, type Input } from "./input.ts";
import {
  cidr,
  directory,
  dnsLabel,
  endpointList,
  hostPort,
  labelMap,
  labelsFromFlag,
  parseLabel,
  parseService,
  service,
  serviceCheckList,
  serviceHttpList,
  serviceList,
  servicesFromFlag,
} from "./values.ts";

const CTX: ParseContext = {
  baseDir: "/srv/conf",
  sys: { uid: 1000, home: "/home/ada", xdgStateHome: undefined, hostname: "h", cwd: "/" },
};

function yaml(value: unknown, path = "key"): Input {
  if (Array.isArray(value)) {
    return {
      path,
      where: { line: 1 },
      fromFlag: false,
      kind: "seq",
      items: value.map((v, i) => yaml(v, `${path}[${i}]`)),
    };
  }
  if (typeof value === "object" && value !== null) {
    return {
      path,
      where: { line: 1 },
      fromFlag: false,
      kind: "map",
      entries: Object.entries(value).map(([key, v]) => ({
        key,
        where: { line: 2 },
        value: yaml(v, `${path}.${key}`),
      })),
    };
  }
  return { path, where: { line: 1 }, fromFlag: false, kind: "scalar", value, text: String(value) };
}

Deno.test("values: overlay networks are canonical, of one family, without host bits", () => {
  const v4 = cidr(4, 8, 30);
  assert.equal(v4(yaml("10.9.0.0/16"), CTX), "10.9.0.0/16");
  assert.throws(() => v4(yaml("10.9.0.0"), CTX), /no prefix length/);
  assert.throws(() => v4(yaml("fd00::/64"), CTX), /not an IPv4 prefix/);
  assert.throws(() => v4(yaml("10.0.0.0/31"), CTX), /outside \/8 to \/30/);
  assert.throws(() => v4(yaml("10.9.0.1/16"), CTX), /did you mean 10.9.0.0\/16/);
  assert.throws(() => v4(yaml("300.1.1.0/24"), CTX), /bad IP address/);
  assert.equal(cidr(6, 8, 126)(yaml("FD00:0::/64"), CTX), "fd00::/64");
});

Deno.test("values: endpoints through the one host:port parser, stored canonical", () => {
  assert.equal(hostPort(0)(yaml(" [FD00::1]:0 "), CTX), "[fd00::1]:0");
  assert.throws(() => hostPort(1)(yaml("h:0"), CTX), /bad port "0" \(1 to 65535\)/);
  assert.deepEqual(endpointList(yaml(["A.example:1", "192.0.2.1:2"]), CTX), [
    "a.example:1",
    "192.0.2.1:2",
  ]);
  assert.throws(() => endpointList(yaml(["a.example:1", "A.EXAMPLE:1"]), CTX), /listed twice/);
});

Deno.test("values: DNS labels and directories", () => {
  assert.equal(dnsLabel(" Node-A "), "node-a");
  assert.throws(() => dnsLabel("a_b"), /letters, digits and '-'/);
  assert.equal(directory(yaml("data"), CTX), "/srv/conf/data");
  assert.equal(directory(yaml("~/w"), CTX), "/home/ada/w");
  assert.equal(directory(yaml("/abs"), CTX), "/abs");
  assert.throws(() => directory(yaml(" "), CTX), /the path is empty/);
  assert.throws(
    () => directory(yaml("~/w"), { ...CTX, sys: { ...CTX.sys, home: undefined } }),
    /~ needs \$HOME/,
  );
});

Deno.test("values: labels from the file and from flags", () => {
  assert.deepEqual(labelMap(yaml({ role: "web", tier: 1 }), CTX), { role: "web", tier: "1" });
  assert.throws(() => labelMap(yaml({ "a b": "x" }), CTX), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.line, 2, "the label's own line");
    return true;
  });
  assert.throws(() => labelMap(yaml(["x"]), CTX), /expected a mapping of label keys/);
  assert.deepEqual(labelsFromFlag(["a=b", { key: "c", value: "" }], "--label"), { a: "b", c: "" });
  assert.throws(() => labelsFromFlag(["a=b", "a=c"], "--label"), /"a" is given twice/);
  assert.throws(() => labelsFromFlag(["a"], "--label"), /^ConfigError: --label: invalid label/);
  assert.deepEqual(parseLabel("k=v"), { key: "k", value: "v" });
});

Deno.test("values: services from the file and from flags", () => {
  assert.deepEqual(service(yaml({ name: "Web", port: 80 }), CTX), {
    name: "web",
    port: 80,
    protocol: "tcp",
  });
  assert.deepEqual(
    service(yaml({ name: "dns", port: 53, protocol: "UDP", weight: 0, priority: 1 }), CTX),
    { name: "dns", port: 53, protocol: "udp", weight: 0, priority: 1 },
  );
  assert.throws(() => service(yaml({ name: "web", protcol: 1 }), CTX), /did you mean "protocol"/);
  assert.throws(() => service(yaml({ port: 80 }), CTX), /needs a name/);
  assert.throws(() => service(yaml({ name: "we_b", port: 80 }), CTX), /may only hold/);
  assert.throws(
    () => serviceList(yaml([{ name: "a", port: 1 }, { name: "a", port: 2 }]), CTX),
    /service a\/tcp is listed twice/,
  );
  assert.deepEqual(servicesFromFlag(["web:80/udp"], "--service"), [
    { name: "web", port: 80, protocol: "udp" },
  ]);
  assert.throws(() => servicesFromFlag(["web"], "--service"), /--service: invalid service/);
  assert.throws(() => parseService("web:0"), ConfigError);
  assert.deepEqual(
    serviceList(flagInput(servicesFromFlag(["a:1", "b:2/udp"], "--service"), "--service"), CTX),
    [{ name: "a", port: 1, protocol: "tcp" }, { name: "b", port: 2, protocol: "udp" }],
  );
});

Deno.test("values: --service-http and --service-check lists, one per service", () => {
  assert.deepEqual(
    serviceHttpList(flagInput(["api=http://127.0.0.1:8080/", " b = https://h/p "], "--x"), CTX),
    [{ name: "api", url: "http://127.0.0.1:8080" }, { name: "b", url: "https://h/p" }],
  );
  assert.throws(
    () => serviceHttpList(flagInput(["api=http://h?q=1"], "--service-http"), CTX),
    /^ConfigError: --service-http: invalid HTTP service .*query or fragment/,
  );
  assert.deepEqual(
    serviceCheckList(flagInput(["api=tcp://h:1,interval=1s,rise=3"], "--c"), CTX),
    [{
      service: "api",
      check: { target: { kind: "tcp", host: "h", port: 1 }, intervalMs: 1000, rise: 3 },
    }],
  );
  assert.throws(
    () => serviceCheckList(flagInput(["a=tcp://h:1", "a=tcp://h:2"], "--service-check"), CTX),
    /--service-check: service a is given twice/,
  );
  assert.deepEqual(
    service(yaml({ name: "api", port: 1, http: "http://h", check: { target: "tcp://h:1" } }), CTX),
    {
      name: "api",
      port: 1,
      protocol: "tcp",
      http: "http://h",
      check: { target: { kind: "tcp", host: "h", port: 1 } },
    },
  );
});
