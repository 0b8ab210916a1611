/** The lease edits on a plain document (no store): the record saved, and read back as a copy. */
import assert from "node:assert/strict";
import { leasesOf, saveLeases } from "./lease_edits.ts";
import { plainDocument } from "./testing/documents.ts";

Deno.test("lease edits: the record is saved; what is read is a copy", () => {
  const d = plainDocument();
  assert.equal(leasesOf(d), null);
  const record = { last: 3, held: { db: { token: 3, holder: "n1" } } };
  assert.deepEqual(saveLeases(d, record), { result: undefined, write: true });
  const read = leasesOf(d)!;
  assert.deepEqual(read, record);
  read.held.db.holder = "changed";
  assert.equal(leasesOf(d)!.held.db.holder, "n1");
});
