import assert from "node:assert/strict";
import {
  MAX_SERVICES,
  parseServiceText,
  serviceId,
  serviceNameProblem,
  serviceProblem,
  servicesProblem,
} from "./services.ts";

Deno.test("services: --service text", () => {
  assert.deepEqual(parseServiceText("web:8080/tcp"), { name: "web", port: 8080, protocol: "tcp" });
  assert.deepEqual(parseServiceText(" Db:5432 "), { name: "db", port: 5432, protocol: "tcp" });
  assert.deepEqual(parseServiceText("dns:53/UDP"), { name: "dns", port: 53, protocol: "udp" });
  const bad: [string, RegExp][] = [
    ["web", /expected NAME:PORT\/PROTOCOL/],
    ["web:0/tcp", /bad port "0"/],
    ["web:65536", /bad port "65536"/],
    ["web:80/sctp", /bad protocol "sctp"/],
    ["we_b:80", /the name may only hold/],
    [":80", /the name is empty/],
  ];
  for (const [text, why] of bad) {
    assert.throws(() => parseServiceText(text), why, text);
    assert.throws(() => parseServiceText(text), /^Error: invalid service/, text);
  }
});

Deno.test("services: the stored form", () => {
  assert.equal(serviceProblem({ name: "web", port: 80, protocol: "tcp" }), undefined);
  assert.equal(
    serviceProblem({ name: "web", port: 80, protocol: "udp", weight: 0, priority: 65535 }),
    undefined,
  );
  const bad: [unknown, RegExp][] = [
    [null, /object/],
    [[], /object/],
    [{ name: 1, port: 80, protocol: "tcp" }, /name must be a string/],
    [{ name: "Web", port: 80, protocol: "tcp" }, /the name "Web"/],
    [{ name: "web", port: 0, protocol: "tcp" }, /port/],
    [{ name: "web", port: 1.5, protocol: "tcp" }, /port/],
    [{ name: "web", port: 80, protocol: "TCP" }, /protocol/],
    [{ name: "web", port: 80, protocol: "tcp", weight: -1 }, /weight/],
    [{ name: "web", port: 80, protocol: "tcp", rpc: "yes" }, /rpc must be true or false/],
    [{ name: "web", port: 80, protocol: "tcp", healthy: 0 }, /healthy must be true or false/],
    [{ name: "web", port: 80, protocol: "tcp", priority: 65536 }, /priority/],
    [{ name: "web", port: 80, protocol: "tcp", labels: { "a b": "c" } }, /invalid label/],
  ];
  for (const [v, why] of bad) assert.match(serviceProblem(v)!, why, JSON.stringify(v));
  assert.equal(serviceNameProblem("web"), undefined);
  assert.equal(serviceId({ name: "web", protocol: "udp" }), "web/udp");
});

Deno.test("services: a list has at most 64, none twice", () => {
  const web = { name: "web", port: 80, protocol: "tcp" };
  assert.equal(servicesProblem([web, { ...web, protocol: "udp" }]), undefined);
  assert.match(servicesProblem([web, { ...web, port: 81 }])!, /web\/tcp is listed twice/);
  assert.match(servicesProblem("web")!, /list/);
  const many = Array.from({ length: MAX_SERVICES + 1 }, (_, i) => ({ ...web, name: `s${i}` }));
  assert.match(servicesProblem(many)!, /at most 64/);
  assert.equal(servicesProblem(many.slice(0, MAX_SERVICES)), undefined);
});
