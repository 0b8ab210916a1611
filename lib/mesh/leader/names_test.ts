import assert from "node:assert/strict";
import {
  assignName,
  heldNames,
  type NameBook,
  nameProblem,
  reservedNameProblem,
  suffixed,
} from "./names.ts";
import { isAddressName } from "../../dns/zone.ts";

/** A book over plain maps. */
function book(opts: {
  members?: Record<string, string>;
  services?: string[];
  held?: Record<string, { key: string; until: number }>;
  pinned?: Record<string, string>;
} = {}): NameBook {
  return {
    holder: (n) => opts.members?.[n],
    isService: (n) => opts.services?.includes(n) ?? false,
    held: (n) => opts.held?.[n],
    pinnedBy: (n) => opts.pinned?.[n],
  };
}

Deno.test("names: the zone's own labels, address names and service names are no member's", () => {
  const b = book({ services: ["db"] });
  assert.match(reservedNameProblem("leader", b)!, /reserved/);
  assert.match(reservedNameProblem("ns", b)!, /reserved/);
  assert.match(reservedNameProblem("localhost", b)!, /reserved/);
  assert.match(reservedNameProblem("db", b)!, /service's name/);
  assert.match(reservedNameProblem("node-0-2", b)!, /address names/);
  assert.match(reservedNameProblem("node-255-255", b)!, /address names/);
  assert.match(reservedNameProblem("Bad_Name", b)!, /not a valid DNS label/);
  for (const ok of ["web", "node", "node-1", "node-0-2-2", "node-256-1", "node-01-2", "db-2"]) {
    assert.equal(reservedNameProblem(ok, b), undefined, ok);
  }
  assert.ok(isAddressName("node-10-0") && !isAddressName("node-a-0"));
});

Deno.test("names: another member's, a held one and a pinned one are not the joiner's", () => {
  const b = book({
    members: { web: "K1" },
    held: { gone: { key: "K2", until: Date.UTC(2030, 0, 1) } },
    pinned: { bastion: "t1" },
  });
  assert.match(nameProblem("web", "K9", b)!, /another member's/);
  assert.equal(nameProblem("web", "K1", b), undefined, "its own name");
  assert.match(
    nameProblem("gone", "K9", b)!,
    /removed member's and is held until 2030-01-01T00:00:00.000Z \(free it with weft node free-name\)/,
  );
  assert.equal(nameProblem("gone", "K2", b), undefined, "the removed member may have it back");
  assert.match(nameProblem("bastion", "K9", b)!, /pinned by join token t1/);
  assert.equal(nameProblem("bastion", "K9", b, "t1"), undefined, "the pinning token's node");
  assert.match(nameProblem("bastion", "K9", b, "t2")!, /pinned by join token t1/);
});

Deno.test("names: a plain joiner gets its name, else the first free suffix", () => {
  const b = book({
    members: { web: "K1", "web-2": "K2", "node-7": "K3" },
    services: ["db"],
    pinned: { bastion: "t1" },
  });
  assert.deepEqual(assignName("api", "K9", b), { name: "api" });
  assert.deepEqual(assignName("web", "K9", b), { name: "web-3" });
  assert.deepEqual(assignName("db", "K9", b), { name: "db-2" });
  assert.deepEqual(assignName("bastion", "K9", b), { name: "bastion-2" });
  assert.deepEqual(assignName("leader", "K9", b), { name: "leader-2" });
  assert.deepEqual(assignName("node-0-2", "K9", b), { name: "node-0-2-2" });
  // `node-7-<n>` is an address name up to 255: a joiner asking for a held `node-7` skips them.
  assert.deepEqual(assignName("node-7", "K9", b), { name: "node-7-256" });
  const bad = assignName("a.b", "K9", b);
  assert.ok("error" in bad && /is not a valid DNS label/.test(bad.error));
});

Deno.test("names: a suffix fits a 63-character label", () => {
  const long = "a".repeat(62) + "b";
  assert.equal(suffixed(long, 2), "a".repeat(61) + "-2");
  assert.equal(suffixed("x".repeat(60) + "-yz", 12), "x".repeat(60) + "-12");
  assert.equal(suffixed("db", 2), "db-2");
});

Deno.test("names: removed members' names are held for the grace period only", () => {
  const left = {
    K1: { at: 1000, name: "a" },
    K2: { at: 5000, name: "b" },
    K3: { at: 5000 },
    K4: { at: 2000, name: "a" },
  };
  const held = heldNames(left, 3000, 2000);
  assert.deepEqual(held.get("a"), { key: "K4", until: 4000 }, "the later removal holds it");
  assert.deepEqual(held.get("b"), { key: "K2", until: 7000 });
  assert.equal(heldNames(left, 7000, 2000).size, 0);
  assert.equal(heldNames(undefined, 0, 1).size, 0);
});
