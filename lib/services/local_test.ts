import assert from "node:assert/strict";
import { LocalServices, serviceOf } from "./local.ts";

Deno.test("local: actions as handlers or with an idempotent flag", () => {
  const s = serviceOf("auth", {
    login: () => "t",
    whoami: { handler: () => "ann", idempotent: true },
    logout: { handler: () => null },
  });
  assert.deepEqual(s.actionNames(), ["login", "whoami", "logout"]);
  assert.equal(s.action("login")?.idempotent, false);
  assert.equal(s.action("whoami")?.idempotent, true);
  assert.equal(s.action("logout")?.idempotent, false);
  assert.equal(s.action("nope"), undefined);
});

Deno.test("local: bad names and actions are refused with the reason", () => {
  const bad: [() => unknown, RegExp][] = [
    [() => serviceOf("Bad Name", { a: () => 1 }), /bad service name "Bad Name"/],
    [() => serviceOf("auth", { "a/b": () => 1 }), /service auth: bad action name "a\/b"/],
    [() => serviceOf("auth", { a: 3 as never }), /action a needs a handler function/],
    [() => serviceOf("auth", { a: { idempotent: true } as never }), /needs a handler/],
    [() => serviceOf("auth", {}), /no actions/],
    [() => serviceOf("auth", null as never), /must be an object/],
  ];
  for (const [f, why] of bad) assert.throws(f, why);
});

Deno.test("local: provide, list, change events, and close once", () => {
  const local = new LocalServices();
  const seen: string[][] = [];
  local.subscribe((names) => seen.push(names));
  const a = local.add(serviceOf("b-svc", { x: () => 1 }));
  local.add(serviceOf("a-svc", { x: () => 1 }));
  assert.deepEqual(local.names(), ["a-svc", "b-svc"]);
  assert.throws(() => local.add(serviceOf("a-svc", { y: () => 2 })), /already provided/);
  a.close();
  a.close();
  assert.equal(local.get("b-svc"), undefined);
  assert.deepEqual(seen, [["b-svc"], ["a-svc", "b-svc"], ["a-svc"]]);
  // A stale handle cannot remove a newer service of the same name.
  const again = local.add(serviceOf("b-svc", { z: () => 3 }));
  a.close();
  assert.ok(local.get("b-svc")?.action("z"));
  again.close();
});
