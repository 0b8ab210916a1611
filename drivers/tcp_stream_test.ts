import assert from "node:assert/strict";
import {
  dialOutcome,
  EMPTY,
  isHangup,
  Stream,
  TCP_FRAME_HEADER,
  TCP_MAX_FRAME,
} from "./tcp_stream.ts";
import { EndpointTable } from "./shared/endpoint.ts";

Deno.test("tcp stream: the frame prefix is 2 bytes, so no frame is over 65,535", () => {
  assert.equal(TCP_FRAME_HEADER, 2);
  assert.equal(TCP_MAX_FRAME, 2 ** (8 * TCP_FRAME_HEADER) - 1);
});

Deno.test("tcp stream: a dial's error reads as what a joiner saw", () => {
  assert.equal(dialOutcome(new Deno.errors.ConnectionRefused("x"), false), "refused");
  assert.equal(dialOutcome(new Deno.errors.TimedOut("x"), false), "timeout");
  assert.equal(dialOutcome(new Error("aborted"), true), "timeout");
  assert.equal(dialOutcome(new Deno.errors.NetworkUnreachable("x"), false), "unreachable");
  assert.equal(dialOutcome(new Error("No route to host (os error 113)"), false), "unreachable");
  assert.equal(dialOutcome(new Error("Host is unreachable"), false), "unreachable");
  assert.equal(dialOutcome(new Deno.errors.PermissionDenied("x"), false), "failed");
  assert.equal(dialOutcome("not an error", false), "failed");
});

Deno.test("tcp stream: hang-ups are told apart from errors worth reporting", () => {
  for (
    const e of [
      new Deno.errors.ConnectionReset("x"),
      new Deno.errors.BrokenPipe("x"),
      new Deno.errors.ConnectionAborted("x"),
      new Deno.errors.BadResource("x"),
      new Deno.errors.Interrupted("x"),
      new Deno.errors.NotConnected("x"),
    ]
  ) assert.ok(isHangup(e), e.name);
  assert.ok(!isHangup(new Deno.errors.PermissionDenied("x")));
  assert.ok(!isHangup(new Error("x")));
});

Deno.test("tcp stream: an accepted connection is untrusted until authenticated, a dialled one is not", () => {
  const ep = new EndpointTable(16, "tcp").parse("192.0.2.1:51820");
  const accepted = new Stream(ep, true, 1000);
  const dialled = new Stream(ep, false, 2000);
  assert.deepEqual(
    [accepted.authenticated, accepted.opened, accepted.lastActive, accepted.key],
    [false, 1000, 1000, ep.toString()],
  );
  assert.equal(dialled.authenticated, true);
  assert.equal(accepted.out, EMPTY);
  assert.deepEqual([accepted.outLen, accepted.conn, accepted.closed], [0, null, false]);
});
