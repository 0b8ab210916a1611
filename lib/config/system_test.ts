import assert from "node:assert/strict";
import { ConfigError } from "./config_error.ts";
import { defaultStateDir, liveSystem } from "./system.ts";

Deno.test("system: given facts win, the rest is read from the machine", () => {
  const s = liveSystem({ uid: 0, home: undefined, hostname: "h" });
  assert.equal(s.uid, 0);
  assert.equal(s.home, undefined, "an explicit undefined is kept, not read");
  assert.equal(s.hostname, "h");
  assert.equal(s.cwd, Deno.cwd());
});

Deno.test("system: the default state directory", () => {
  const base = { uid: 1000, home: "/home/a", xdgStateHome: undefined, hostname: "", cwd: "/" };
  assert.equal(defaultStateDir({ ...base, uid: 0 }), "/var/lib/weft");
  assert.equal(defaultStateDir({ ...base, xdgStateHome: "/x" }), "/x/weft");
  assert.equal(defaultStateDir({ ...base, xdgStateHome: "rel" }), "/home/a/.local/state/weft");
  assert.throws(() => defaultStateDir({ ...base, home: "" }), ConfigError);
});
