import assert from "node:assert/strict";
import { TELL_TRIES, TellAgain } from "./tell_again.ts";
import type { ControlMessage } from "./protocol.ts";
import { member } from "../../../tests/fixtures/members.ts";
import type { Member } from "../../members/member.ts";
import { eventually, HANG_GUARD_MS } from "../../../tests/fixtures/netns.ts";

type Hello = Extract<ControlMessage, { t: "hello" }>;

const hello = (more: Partial<Hello> = {}): Hello => ({ t: "hello", v: 1, endpoints: [], ...more });

/** Telling over counted hellos (each heard back as sent); the record shown is set by the test. */
function harness() {
  const s: { hellos: number; said: Hello; own: Member | undefined; live: boolean } = {
    hellos: 0,
    said: hello(),
    own: member("me", "10.3.0.2", { publicKey: "K-me" }),
    live: true,
  };
  const tell: TellAgain = new TellAgain({
    hello: () => {
      s.hellos++;
      tell.sent(s.said);
    },
    own: () => s.own,
    live: () => s.live,
    againMs: 1,
  });
  return { s, tell };
}

Deno.test("tell again: the first hello and unchanged ones tell nothing again", () => {
  const { tell } = harness();
  try {
    tell.sent(hello({ services: [{ name: "web", port: 80, protocol: "tcp" }] }));
    assert.ok(!tell.telling, "the first hello");
    tell.sent(hello({ v: 7, services: [{ protocol: "tcp", port: 80, name: "web" }] }));
    assert.ok(!tell.telling, "the same services in another spelling, another version");
  } finally {
    tell.stop();
  }
});

Deno.test("tell again: a change not shown is told TELL_TRIES times more, then it ends", async () => {
  const { s, tell } = harness();
  tell.sent(hello());
  s.said = hello({ lan: ["198.18.0.7:51820"] });
  tell.sent(s.said);
  assert.ok(tell.telling);
  assert.ok(await eventually(() => Promise.resolve(!tell.telling), HANG_GUARD_MS, 5));
  assert.equal(s.hellos, TELL_TRIES);
});

Deno.test("tell again: the record showing the change ends it; so does stopping or a removed node", async () => {
  for (const end of ["shown", "stop", "removed"] as const) {
    const { s, tell } = harness();
    tell.sent(hello());
    s.said = hello({ labels: { "node.weft/zone": "b", team: "dropped by the leader" } });
    tell.sent(s.said);
    if (end === "shown") s.own = { ...s.own!, nodeLabels: { "node.weft/zone": "b" } };
    if (end === "stop") tell.stop();
    if (end === "removed") s.live = false;
    assert.ok(await eventually(() => Promise.resolve(!tell.telling), HANG_GUARD_MS, 5), end);
    assert.equal(s.hellos, 0, end);
  }
});

Deno.test("tell again: a second change starts the tries over and both must show", async () => {
  const { s, tell } = harness();
  try {
    tell.sent(hello());
    s.said = hello({ tcpPort: 443 });
    tell.sent(s.said);
    s.said = hello({ tcpPort: 443, routes: ["198.51.100.0/24"] });
    tell.sent(s.said);
    // The port shows, the routes not yet: told again.
    s.own = { ...s.own!, tcpPort: 443 };
    assert.ok(await eventually(() => Promise.resolve(s.hellos > 0), HANG_GUARD_MS, 1));
    s.own = { ...s.own!, advertisedRoutes: ["198.51.100.0/24"] };
    assert.ok(await eventually(() => Promise.resolve(!tell.telling), HANG_GUARD_MS, 5));
  } finally {
    tell.stop();
  }
});
