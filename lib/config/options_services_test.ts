import assert from "node:assert/strict";
import { SERVICE_OPTIONS } from "./options_services.ts";
import type { ParseContext } from "./combinators.ts";
import { flagInput } from "./input.ts";
import type { SystemInfo } from "./system.ts";
import { DEFAULT_CALLER_LIMIT } from "../members/service_backends.ts";

const SYS: SystemInfo = { uid: 0, home: "/root", xdgStateHome: undefined, hostname: "h", cwd: "/" };
const CTX: ParseContext = { baseDir: "/etc/weft", sys: SYS };

Deno.test("service options: the callers' limit defaults to a copy; one flag value is a list of one", () => {
  const limit = SERVICE_OPTIONS.serviceCallerLimit.defaultValue(SYS);
  assert.deepEqual(limit, DEFAULT_CALLER_LIMIT);
  assert.notEqual(limit, DEFAULT_CALLER_LIMIT, "a node's changes never reach the default");
  assert.deepEqual(SERVICE_OPTIONS.plugins.fromFlag!("a.ts", "--plugin"), ["a.ts"]);
  assert.deepEqual(SERVICE_OPTIONS.serviceHttp.fromFlag!(["a=http://x"], "--service-http"), [
    "a=http://x",
  ]);
});

Deno.test("service options: services and labels from flags parse as the file's", () => {
  const s = SERVICE_OPTIONS.services;
  const services = s.parse!(flagInput(s.fromFlag!(["web:80/tcp"], "--service"), "--service"), CTX);
  assert.deepEqual(services.map((x) => [x.name, x.port, x.protocol]), [["web", 80, "tcp"]]);
  const l = SERVICE_OPTIONS.labels;
  const labels = l.parse!(flagInput(l.fromFlag!(["node.weft/zone=a"], "--label"), "--label"), CTX);
  assert.deepEqual(labels, { "node.weft/zone": "a" });
});
