import assert from "node:assert/strict";
import { FLAG_ATTRIBUTES, KEYS, OPTIONS, YAML_KEYS } from "./options.ts";
import type { SystemInfo } from "./system.ts";
import type { OptionKey } from "./agent_types.ts";
import { NETWORK_OPTIONS } from "./options_network.ts";
import { HOST_OPTIONS } from "./options_host.ts";
import { SERVICE_OPTIONS } from "./options_services.ts";
import { DNS_OPTIONS } from "./options_dns.ts";
import { PEER_OPTIONS } from "./options_peers.ts";

const SYS: SystemInfo = {
  uid: 0,
  home: undefined,
  xdgStateHome: undefined,
  hostname: "Box.example",
  cwd: "/",
};

Deno.test("options: every option is named by flag, key or both, by the naming rule", () => {
  for (const k of KEYS) {
    const o = OPTIONS[k];
    assert.ok(o.flag !== undefined || o.yaml !== undefined, k);
    assert.ok(o.parse !== undefined || o.parseNode !== undefined, k);
    if (o.flag !== undefined && o.yaml !== undefined && !o.repeatable) {
      // A switch on by default is turned off by `--no-KEY`.
      const on = o.defaultValue(SYS) === true;
      assert.equal(o.flag, on ? `--no-${o.yaml}` : `--${o.yaml}`, k);
    }
  }
  assert.equal(YAML_KEYS.get("listen-port"), "listenPort");
  assert.equal(YAML_KEYS.get("labels"), "labels");
  assert.equal(FLAG_ATTRIBUTES.get("label"), "labels");
  assert.equal(FLAG_ATTRIBUTES.get("service"), "services");
  assert.equal(YAML_KEYS.has("config"), false);
  assert.equal(FLAG_ATTRIBUTES.has("policy"), false);
  assert.equal(FLAG_ATTRIBUTES.get("lanDiscovery"), "lanDiscovery");
  assert.equal(YAML_KEYS.get("nat-traversal"), "natTraversal");
});

Deno.test("options: defaults come from the table and the machine", () => {
  assert.equal(OPTIONS.listenPort.defaultValue(SYS), 51820);
  assert.equal(OPTIONS.stateDir.defaultValue(SYS), "/var/lib/weft");
  assert.equal(OPTIONS.hostname.defaultValue(SYS), "box");
  assert.equal(OPTIONS.probeInterval.defaultValue(SYS), 5000);
  assert.equal(OPTIONS.cidr.defaultValue(SYS), "10.200.0.0/16");
  assert.equal(OPTIONS.policy.defaultValue(SYS), undefined);
});

Deno.test("options: the table is each area's rows in turn, none left out or given twice", () => {
  const areas = [NETWORK_OPTIONS, HOST_OPTIONS, SERVICE_OPTIONS, DNS_OPTIONS, PEER_OPTIONS];
  const rows = areas.flatMap((a) => Object.keys(a));
  assert.deepEqual(rows, KEYS, "a key in two areas would be overridden by the later one");
  for (const a of areas) {
    for (const [k, spec] of Object.entries(a)) assert.equal(OPTIONS[k as OptionKey], spec, k);
  }
});
