import assert from "node:assert/strict";
import { DNS_OPTIONS } from "./options_dns.ts";
import type { ParseContext } from "./combinators.ts";
import { flagInput } from "./input.ts";
import { ConfigError } from "./config_error.ts";

const CTX: ParseContext = {
  baseDir: "/etc/weft",
  sys: { uid: 0, home: "/root", xdgStateHome: undefined, hostname: "h", cwd: "/" },
};

Deno.test("dns options: the zone is stored lowercase with its final dot; a bad one is refused", () => {
  const zone = DNS_OPTIONS.dnsZone;
  assert.equal(zone.parse!(flagInput(" Mesh.Example ", "--dns-zone"), CTX), "mesh.example.");
  assert.equal(zone.parse!(flagInput("mesh.example.", "--dns-zone"), CTX), "mesh.example.");
  assert.throws(() => zone.parse!(flagInput("a..b", "--dns-zone"), CTX), ConfigError);
  assert.equal(zone.defaultValue(CTX.sys), "overlay.local.");
});

Deno.test("dns options: the port may be 0 (no server); a route names a domain and resolvers", () => {
  assert.equal(DNS_OPTIONS.dnsPort.parse!(flagInput("0", "--dns-port"), CTX), 0);
  assert.throws(
    () => DNS_OPTIONS.dnsPort.parse!(flagInput("65536", "--dns-port"), CTX),
    ConfigError,
  );
  const r = DNS_OPTIONS.dnsRoute;
  const routes = r.parse!(
    flagInput(r.fromFlag!("corp.example=192.0.2.53", "--dns-route"), "--dns-route"),
    CTX,
  );
  assert.equal(routes.length, 1);
});
