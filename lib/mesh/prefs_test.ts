import assert from "node:assert/strict";
import { ConfigError } from "../config/config_error.ts";
import {
  isEmptyPrefs,
  layerPrefs,
  mergePrefs,
  noPrefs,
  parsePrefsChange,
  type PrefSettings,
  readPrefs,
  writePrefs,
} from "./prefs.ts";

const CONFIG: PrefSettings = {
  labels: { role: "web", "node.weft/tier": "a" },
  services: [
    { name: "db", port: 5432, protocol: "tcp" },
    { name: "web", port: 80, protocol: "tcp", weight: 5 },
  ],
  advertiseRoutes: ["198.51.100.0/24"],
  advertiseExitNode: false,
  exitNode: "gw",
  exitNodeAllowLanAccess: false,
  exitNodeFallback: false,
  acceptRoutes: true,
};

Deno.test("prefs: a change is parsed once, with the start flags' rules", () => {
  assert.deepEqual(
    parsePrefsChange({
      labels: { "node.weft/env": "prod" },
      removeLabels: ["node.weft/tier"],
      services: ["WEB:8080", "dns:53/udp"],
      removeServices: ["DB"],
    }),
    {
      labels: { "node.weft/env": "prod" },
      removeLabels: ["node.weft/tier"],
      services: [
        { name: "web", port: 8080, protocol: "tcp" },
        { name: "dns", port: 53, protocol: "udp" },
      ],
      removeServices: ["db"],
    },
  );
  assert.deepEqual(parsePrefsChange({ reset: true }), { reset: true });
  assert.deepEqual(
    parsePrefsChange({ advertiseRoutes: [" 203.0.113.0/24", "198.51.100.0/24"] }),
    { advertiseRoutes: ["198.51.100.0/24", "203.0.113.0/24"] },
  );
  assert.deepEqual(parsePrefsChange({ advertiseRoutes: [] }), { advertiseRoutes: [] });
  assert.deepEqual(parsePrefsChange({ exitNode: " GW " }), { exitNode: "gw" });
  assert.deepEqual(parsePrefsChange({ exitNode: "fd7a::0:1" }), { exitNode: "fd7a::1" });
  assert.deepEqual(parsePrefsChange({ exitNode: "" }), { exitNode: null });
  const refused: [unknown, RegExp][] = [
    [{}, /nothing to change/],
    [null, /want a JSON object/],
    [{ lables: {} }, /unknown field "lables"/],
    [{ labels: { role: "db" } }, /a node sets only its own labels, under node\.weft\//],
    [{ labels: { "node.weft/x": 1 } }, /labels\.node\.weft\/x: want a string value/],
    [{ labels: { "node.weft/x": "-bad-" } }, /labels\.node\.weft\/x: /],
    [{ removeLabels: ["role"] }, /own labels/],
    [{ removeLabels: "node.weft/x" }, /want a list of strings/],
    [{ services: ["web:99999/tcp"] }, /invalid service "web:99999\/tcp": bad port/],
    [{ services: ["web:80/sctp"] }, /bad protocol/],
    [{ services: ["web:80", "web:81/tcp"] }, /web\/tcp is given twice/],
    [{ removeServices: ["no_such name"] }, /service name/],
    [{ services: ["web:80"], removeServices: ["web"] }, /both offered and removed/],
    [{ labels: { "node.weft/a": "1" }, removeLabels: ["node.weft/a"] }, /both set and removed/],
    [{ reset: "yes" }, /reset: want true or false/],
    [{ reset: false }, /nothing to change/],
    [{ advertiseRoutes: ["198.51.100.1/24"] }, /advertiseRoutes: invalid route .*host bits/],
    [{ advertiseRoutes: ["0.0.0.0/0"] }, /--advertise-exit-node/],
    [{ advertiseRoutes: "198.51.100.0/24" }, /want a list of strings/],
    [{ advertiseExitNode: "yes" }, /advertiseExitNode: want true or false/],
    [{ exitNode: "not a name" }, /exitNode: "not a name" /],
    [{ exitNode: 3 }, /exitNode: want a member's name or overlay address/],
    [{ exitNodeFallback: 1 }, /exitNodeFallback: want true or false/],
    [{ acceptRoutes: "no" }, /acceptRoutes: want true or false/],
    [{ services: Array.from({ length: 65 }, (_, i) => `s${i}:80`) }, /at most 64/],
  ];
  for (const [body, why] of refused) {
    assert.throws(() => parsePrefsChange(body), (e) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.match(e.message, why);
      return true;
    }, JSON.stringify(body));
  }
});

Deno.test("prefs: changes merge, a later one wins; laid over the configuration", () => {
  let p = mergePrefs(
    noPrefs(),
    parsePrefsChange({
      labels: { "node.weft/env": "prod" },
      removeLabels: ["node.weft/tier"],
      services: ["web:8080"],
      removeServices: ["db"],
    }),
  );
  // What the preferences name wins; the rest of the configuration stays (the granted label).
  assert.deepEqual(layerPrefs(CONFIG, p), {
    labels: { role: "web", "node.weft/env": "prod" },
    services: [{ name: "web", port: 8080, protocol: "tcp" }],
    advertiseRoutes: ["198.51.100.0/24"],
    advertiseExitNode: false,
    exitNode: "gw",
    exitNodeAllowLanAccess: false,
    exitNodeFallback: false,
    acceptRoutes: true,
  });
  assert.equal(
    layerPrefs(CONFIG, mergePrefs(p, parsePrefsChange({ acceptRoutes: false }))).acceptRoutes,
    false,
  );
  // The exit node used: another, none (null wins over the configured one), back to the config.
  const other = mergePrefs(p, parsePrefsChange({ exitNode: "10.9.0.3", exitNodeFallback: true }));
  assert.equal(layerPrefs(CONFIG, other).exitNode, "10.9.0.3");
  assert.equal(layerPrefs(CONFIG, other).exitNodeFallback, true);
  const none = mergePrefs(other, parsePrefsChange({ exitNode: "" }));
  assert.equal(none.exitNode, null);
  assert.equal(layerPrefs(CONFIG, none).exitNode, undefined);
  assert.equal(layerPrefs(CONFIG, none).exitNodeFallback, true);
  // Routes and the exit-node offer: replaced when set, an empty list is none.
  const routed = mergePrefs(p, parsePrefsChange({ advertiseRoutes: [], advertiseExitNode: true }));
  assert.deepEqual(layerPrefs(CONFIG, routed).advertiseRoutes, []);
  assert.equal(layerPrefs(CONFIG, routed).advertiseExitNode, true);
  const later = mergePrefs(routed, parsePrefsChange({ advertiseRoutes: ["203.0.113.0/24"] }));
  assert.deepEqual(later.advertiseRoutes, ["203.0.113.0/24"]);
  assert.equal(later.advertiseExitNode, true, "only what a change names changes");
  // Only what a change names changes; a label removed is set again, a service removed offered.
  p = mergePrefs(p, parsePrefsChange({ labels: { "node.weft/tier": "b" }, services: ["db:6432"] }));
  assert.deepEqual(p, {
    setLabels: { "node.weft/env": "prod", "node.weft/tier": "b" },
    removeLabels: [],
    addServices: [
      { name: "web", port: 8080, protocol: "tcp" },
      { name: "db", port: 6432, protocol: "tcp" },
    ],
    removeServices: [],
  });
  p = mergePrefs(p, parsePrefsChange({ removeServices: ["web"] }));
  assert.deepEqual(layerPrefs(CONFIG, p).services, [{ name: "db", port: 6432, protocol: "tcp" }]);
  // reset: back to the configuration.
  p = mergePrefs(p, { reset: true });
  assert.ok(isEmptyPrefs(p));
  assert.deepEqual(layerPrefs(CONFIG, p), CONFIG);
  // Too many in force is refused.
  const many = mergePrefs(noPrefs(), {
    services: Array.from({ length: 63 }, (_, i) => ({ name: `s${i}`, port: 80, protocol: "tcp" })),
  });
  assert.throws(() => layerPrefs(CONFIG, many), /65 services \(at most 64\)/);
});

Deno.test("prefs: written atomically, read back; none removes the file; a bad file is named", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/prefs.json`;
    assert.ok(isEmptyPrefs(await readPrefs(path)), "no file: no preferences");
    const p = mergePrefs(
      noPrefs(),
      parsePrefsChange({
        labels: { "node.weft/env": "prod" },
        removeLabels: ["node.weft/tier"],
        services: ["dns:53/udp"],
        removeServices: ["db"],
        advertiseRoutes: [],
        advertiseExitNode: true,
        exitNode: null,
        exitNodeAllowLanAccess: true,
        acceptRoutes: false,
      }),
    );
    await writePrefs(path, p);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.deepEqual(await readPrefs(path), p);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(path)).services, ["dns:53/udp"]);
    await writePrefs(path, noPrefs());
    await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
    for (
      const [text, why] of [
        ["{", /invalid JSON/],
        ['{"labels":{"role":"db"}}', /own labels/],
        ['{"services":["web:0"]}', /bad port/],
        ['{"extra":1}', /unknown field "extra"/],
        ['{"advertiseRoutes":["nope"]}', /invalid route "nope"/],
      ]
    ) {
      await Deno.writeTextFile(path, text as string);
      await assert.rejects(readPrefs(path), (e) => {
        assert.ok(e instanceof ConfigError);
        assert.match(e.message, why as RegExp);
        assert.ok(e.message.includes(path), e.message);
        assert.match(e.message, /remove the file to go back to the configuration/);
        return true;
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
