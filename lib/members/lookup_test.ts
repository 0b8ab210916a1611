import assert from "node:assert/strict";
import { memberByName } from "./lookup.ts";
import type { Member } from "./member.ts";

const member = (name: string, address: string): Member => ({
  name,
  publicKey: `${name}-key=`,
  address,
  endpoints: [],
  labels: {},
  role: "node",
  services: [],
  joinedAt: 0,
});
const MEMBERS = [member("lead", "10.9.0.1"), member("db", "10.9.0.5"), member("web-1", "10.9.0.6")];
const ZONE = "overlay.local.";

Deno.test("memberByName: a host name, or its name in the zone, in any case, with the final dot", () => {
  for (const text of ["db", "DB", "db.", "db.overlay.local", "Db.Overlay.Local."]) {
    const r = memberByName(MEMBERS, text, ZONE);
    assert.ok("member" in r, `${text}: ${JSON.stringify(r)}`);
    assert.equal(r.member.address, "10.9.0.5");
  }
  // Another zone than the mesh's is no member's name.
  assert.ok("problem" in memberByName(MEMBERS, "db.example.com", ZONE));
  // Without a zone given, only the host name.
  assert.ok("member" in memberByName(MEMBERS, "web-1"));
  assert.ok("problem" in memberByName(MEMBERS, "web-1.overlay.local"));
});

Deno.test("memberByName: an unknown name is named, with the member probably meant", () => {
  assert.deepEqual(memberByName(MEMBERS, "dbb", ZONE), {
    problem: 'no member named "dbb" (did you mean db?)',
  });
  assert.deepEqual(memberByName(MEMBERS, "web-2.overlay.local", ZONE), {
    problem: 'no member named "web-2.overlay.local" (did you mean web-1?)',
  });
  assert.deepEqual(memberByName(MEMBERS, "mail", ZONE), { problem: 'no member named "mail"' });
  assert.deepEqual(memberByName(MEMBERS, "", ZONE), { problem: 'no member named ""' });
  assert.deepEqual(memberByName([], "db", ZONE), { problem: 'no member named "db"' });
});
