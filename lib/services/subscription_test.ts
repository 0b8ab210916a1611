import assert from "node:assert/strict";
import { type ServiceEvent, Subscription } from "./subscription.ts";
import { TopicPattern } from "./topics.ts";

const ev = (n: number): ServiceEvent => ({
  topic: "t",
  data: n,
  id: `10.0.0.1#${n}`,
  publisher: "a",
  publisherAddress: "10.0.0.1",
});

Deno.test("subscription: events in order, to a waiting reader or from the queue", async () => {
  const s = new Subscription(new TopicPattern("t"), {}, () => {});
  const first = s.next();
  s.push(ev(1));
  s.push(ev(2));
  assert.equal((await first).value?.data, 1);
  assert.equal((await s.next()).value?.data, 2);
  assert.equal(s.received, 2);
});

Deno.test("subscription: a slow reader's queue is bounded; the newest are dropped and counted", async () => {
  const s = new Subscription(new TopicPattern("t"), { maxQueue: 3 }, () => {});
  for (let i = 0; i < 10; i++) s.push(ev(i));
  assert.equal(s.queued, 3);
  assert.equal(s.dropped, 7);
  const got = [];
  for (let i = 0; i < 3; i++) got.push((await s.next()).value?.data);
  assert.deepEqual(got, [0, 1, 2]);
});

Deno.test("subscription: leaving for-await closes it once, and readers waiting are done", async () => {
  let closes = 0;
  const s = new Subscription(new TopicPattern("t/*"), { group: "g" }, () => closes++);
  assert.equal(s.group, "g");
  s.push(ev(1));
  s.push(ev(2));
  for await (const e of s) {
    assert.equal(e.data, 1);
    break;
  }
  assert.ok(s.closed);
  assert.equal(closes, 1);
  assert.equal(s.push(ev(3)), false);
  assert.equal((await s.next()).done, true);
  const t = new Subscription(new TopicPattern("t"), {}, () => closes++);
  const waiting = t.next();
  t.close();
  t.close();
  assert.equal((await waiting).done, true);
  assert.equal(closes, 2);
});

Deno.test("subscription: bad queue sizes are refused", () => {
  assert.throws(
    () => new Subscription(new TopicPattern("t"), { maxQueue: 0 }, () => {}),
    /maxQueue/,
  );
});
