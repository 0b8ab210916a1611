/**
 * The name edits on a plain document (no store): the claims on names (members, services,
 * removed members' held names, pinned names), the name a joiner gets, and freeing a held name.
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "../../crypto/keys.ts";
import { LeaderNotFoundError } from "./errors.ts";
import { freeName, nameBook, nameFor } from "./name_edits.ts";
import { joinRequest } from "./testing/cores.ts";
import { addPlainToken, nodeRecord, plainContext, plainDocument } from "./testing/documents.ts";

const HOUR = 3_600_000;

Deno.test("name edits: the book names each claim: members, services, held and pinned names", () => {
  const ctx = plainContext({ nameHoldMs: HOUR });
  const d = plainDocument();
  const web = { name: "web", port: 80, protocol: "tcp" as const };
  const n = nodeRecord("n1", "10.77.0.2", { services: [web] });
  ctx.index(d).add(n);
  const pin = addPlainToken(ctx, d, { hostname: "bastion" });
  addPlainToken(ctx, d, { services: ["vault"] });
  d.left = { gone: { time: 0, at: 1_000, name: "old" } };
  const book = nameBook(ctx, d, 2_000);
  assert.equal(book.holder("n1"), n.publicKey);
  assert.equal(book.isService("web"), true);
  assert.equal(book.isService("vault"), true, "a name a token grants, offered by nobody yet");
  assert.equal(book.isService("n1"), false);
  assert.deepEqual(book.held("old"), { key: "gone", until: 1_000 + HOUR });
  assert.equal(book.pinnedBy("bastion"), pin.id);
  // Past the hold, and past the pinning token's expiry, the names are free.
  const later = nameBook(ctx, d, 1_000 + HOUR + 1);
  assert.equal(later.held("old"), undefined);
  assert.equal(nameBook(ctx, d, pin.expiresAt).pinnedBy("bastion"), undefined);
});

Deno.test("name edits: a joiner gets its pinned name, its previous one when free, else a suffix", () => {
  const ctx = plainContext();
  const d = plainDocument();
  ctx.index(d).add(nodeRecord("a", "10.77.0.2"));
  const plain = addPlainToken(ctx, d);
  const pin = addPlainToken(ctx, d, { hostname: "bastion" });
  const t = (id: string) => d.tokens.find((x) => x.id === id)!;
  assert.deepEqual(nameFor(ctx, d, joinRequest(pin, "x"), t(pin.id), 0), { name: "bastion" });
  assert.deepEqual(nameFor(ctx, d, joinRequest(plain, "bastion"), t(plain.id), 0), {
    name: "bastion-2",
  });
  assert.deepEqual(nameFor(ctx, d, joinRequest(plain, "a"), t(plain.id), 0), { name: "a-2" });
  const back = joinRequest(plain, "x", { previousName: "b" });
  assert.deepEqual(nameFor(ctx, d, back, t(plain.id), 0), { name: "b" });
  const taken = joinRequest(plain, "x", { previousName: "a" });
  assert.deepEqual(nameFor(ctx, d, taken, t(plain.id), 0), { name: "x" });
  // A pinned name another member holds is refused, not suffixed.
  ctx.index(d).add(nodeRecord("bastion", "10.77.0.3"));
  const r = nameFor(
    ctx,
    d,
    joinRequest(pin, "x", { publicKey: generateKeyPair().publicKey }),
    t(pin.id),
    0,
  );
  assert.ok(
    "error" in r && /the name this token gives, "bastion"/.test(r.error),
    JSON.stringify(r),
  );
});

Deno.test("name edits: freeing a held name lets the next joiner have it; none held: not found", () => {
  const ctx = plainContext({ nameHoldMs: HOUR });
  const d = plainDocument();
  d.left = { gone: { time: 0, at: 0, name: "db" }, old: { time: 0, at: -2 * HOUR, name: "x" } };
  assert.equal(nameBook(ctx, d, 10).held("db")?.key, "gone");
  assert.equal(freeName(ctx, d, "db", 10).write, true);
  assert.deepEqual(d.left.gone, { time: 0, at: 0 }, "the key stays remembered");
  assert.equal(nameBook(ctx, d, 10).held("db"), undefined);
  assert.throws(() => freeName(ctx, d, "db", 10), LeaderNotFoundError);
  assert.throws(() => freeName(ctx, d, "x", 10), LeaderNotFoundError, "its hold is over");
});
