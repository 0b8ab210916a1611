import assert from "node:assert/strict";
import {
  checkJoinToken,
  describeUnanswered,
  JoinError,
  joinOver,
  leaderTcpEndpoints,
  newJoinReceiver,
} from "./exchange.ts";
import { encodeToken } from "./token.ts";
import { MemoryNetwork } from "../../../drivers/memory.ts";
import { encodeKey, generateKeyPair } from "../../crypto/keys.ts";
import { nobleAead, nobleDh } from "../../crypto/noble.ts";
import { nullLogger } from "../../log/logger.ts";
import { joinResendDelayMs } from "./resend.ts";

const suite = { aead: nobleAead, dh: nobleDh };
const dh = suite.dh;
const leader = generateKeyPair();

function token(extra: Partial<Parameters<typeof encodeToken>[0]> = {}): string {
  return encodeToken({
    leaderKey: leader.publicKey,
    endpoints: ["192.0.2.1:51820"],
    network: "10.7.0.0/24",
    id: "0123456789ab",
    secret: "c2VjcmV0c2VjcmV0",
    ...extra,
  });
}

Deno.test("join exchange: a usable token is checked and its request parts derived", () => {
  const checked = checkJoinToken(token(), dh);
  assert.equal(checked.token.network, "10.7.0.0/24");
  assert.equal(encodeKey(checked.leaderKey), leader.publicKey);
  assert.deepEqual([...checked.tokenId], [0x01, 0x23, 0x45, 0x67, 0x89, 0xab]);
  assert.equal(checked.mac1Key.length, 32);
});

Deno.test("join exchange: a token that cannot be used is a JoinError saying why", () => {
  const refused = (text: string, why: RegExp) =>
    assert.throws(
      () => checkJoinToken(text, dh),
      (e) => e instanceof JoinError && why.test(e.message),
    );
  refused("weft1_nonsense", /./);
  refused("not a token", /not a weft join token/);
  // A low-order point: every shared secret with it would be zero.
  refused(token({ leaderKey: encodeKey(new Uint8Array(32)) }), /unusable join token/);
  refused(token({ id: "zz" }), /bad id or secret/);
  refused(token({ network: "nonsense" }), /bad network/);
  refused(token({ endpoints: ["no port here"] }), /no usable leader endpoint/);
});

Deno.test("join exchange: the leader's TCP endpoints: the token's TCP port, else each endpoint's", () => {
  const t = checkJoinToken(token({ endpoints: ["192.0.2.1:51820", "[2001:db8::1]:4000"] }), dh);
  assert.deepEqual(leaderTcpEndpoints(t.token), [
    "tcp://192.0.2.1:51820",
    "tcp://[2001:db8::1]:4000",
  ]);
  const other = checkJoinToken(token({ endpoints: ["leader.example:51820"], tcpPort: 443 }), dh);
  assert.deepEqual(leaderTcpEndpoints(other.token), ["tcp://leader.example:443"]);
});

Deno.test("join exchange: what was seen of each endpoint, said", () => {
  const seen = (over: Partial<Parameters<typeof describeUnanswered>[0][0]>) => ({
    endpoint: "192.0.2.1:51820",
    tcp: "tcp://192.0.2.1:51820",
    refusals: 0,
    cookie: false,
    ...over,
  });
  assert.equal(
    describeUnanswered([seen({ dial: "refused", refusals: 1 })], 9, 2000),
    "no answer from the leader: tcp://192.0.2.1:51820 refused the connection (no weft listens " +
      "on that TCP port: is the leader running?) (9 tries in 2 s)",
  );
  // A dial that timed out and one still waiting: nothing came back at all.
  for (const dial of ["timeout", undefined] as const) {
    assert.equal(
      describeUnanswered([seen({ dial })], 20, 15_000),
      "no answer from the leader: no reply at all from 192.0.2.1:51820 or " +
        "tcp://192.0.2.1:51820 (down, or a firewall drops it) (20 tries in 15 s)",
    );
  }
  assert.match(
    describeUnanswered([seen({ dial: "unreachable" })], 20, 15_000),
    /: 192\.0\.2\.1:51820 is unreachable \(no route to it: tcp:\/\/192\.0\.2\.1:51820 could not be dialled\)/,
  );
  assert.match(
    describeUnanswered([seen({ dial: "failed" })], 20, 15_000),
    /: no reply from 192\.0\.2\.1:51820 over udp, and tcp:\/\/192\.0\.2\.1:51820 could not be dialled/,
  );
  assert.match(
    describeUnanswered([seen({ cookie: true, dial: "connected" })], 20, 15_000),
    /: 192\.0\.2\.1:51820 is under load \(it sent a cookie\)/,
  );
  // Dialled through an HTTP proxy that said no: what the proxy said.
  const proxySaid = "proxy http://198.51.100.9:3128 refused CONNECT to 192.0.2.1:51820: " +
    "403 Forbidden";
  assert.equal(
    describeUnanswered([seen({ dial: "failed", refusals: 3, proxy: proxySaid })], 11, 4000),
    "no answer from the leader: no reply from 192.0.2.1:51820 over udp, and " +
      `tcp://192.0.2.1:51820 could not be dialled through the proxy: ${proxySaid} (3 times) ` +
      "(11 tries in 4 s)",
  );
  // Where the join went on to the WebSocket on that port: how that went, too.
  const ws = "ws://192.0.2.1:51820";
  assert.equal(
    describeUnanswered([seen({ dial: "timeout", ws })], 20, 15_000),
    "no answer from the leader: no reply at all from 192.0.2.1:51820 or " +
      "tcp://192.0.2.1:51820 (down, or a firewall drops it), and over websocket no reply from " +
      "ws://192.0.2.1:51820 either (20 tries in 15 s)",
  );
  assert.match(
    describeUnanswered([seen({ dial: "connected", ws, wsDial: "connected" })], 20, 15_000),
    /check the token\), and over websocket ws:\/\/192\.0\.2\.1:51820 upgraded but did not answer either \(/,
  );
  assert.match(
    describeUnanswered([seen({ dial: "refused", refusals: 2, ws, wsDial: "refused" })], 6, 5000),
    /refused the connection 2 times \(no weft listens on that TCP port: is the leader running\?\), and over websocket ws:\/\/192\.0\.2\.1:51820 was refused too \(6 tries/,
  );
  assert.match(
    describeUnanswered(
      [seen({ dial: "connected", ws, wsDial: "failed", wsWhy: "the server did not upgrade" })],
      6,
      5000,
    ),
    /and over websocket ws:\/\/192\.0\.2\.1:51820 could not be opened: the server did not upgrade \(6 tries/,
  );
  assert.match(
    describeUnanswered(
      [seen({ dial: "failed", proxy: proxySaid, ws, wsDial: "failed", wsWhy: proxySaid })],
      6,
      5000,
    ),
    /403 Forbidden, and over websocket ws:\/\/192\.0\.2\.1:51820 could not be dialled through the proxy either \(6 tries/,
  );
  // Each endpoint of a leader, in the token's order; a name that did not resolve says why.
  assert.equal(
    describeUnanswered(
      [
        seen({ dial: "connected" }),
        seen({ endpoint: "leader.example:51820", tcp: undefined, lookup: "no such host" }),
        seen({ endpoint: "198.51.100.1:51820", tcp: undefined }),
      ],
      3,
      1000,
    ),
    "no answer from the leader: tcp://192.0.2.1:51820 took the connection but did not answer " +
      "the join (a leader does not answer a token it does not know: one from another mesh, or " +
      "whose secret changed; check the token); leader.example:51820 could not be resolved: no " +
      "such host; no reply at all from 198.51.100.1:51820 over udp (a leader that is down, " +
      "behind a firewall, or that does not know this token does not answer) (3 tries in 1 s)",
  );
});

/** A join of node "page" over UDP alone, given up after `timeoutMs`. */
function pageJoin(timeoutMs: number) {
  return {
    hostname: "page",
    labels: {},
    services: [],
    advertise: [],
    relay: false,
    routes: [],
    tcpPort: null,
    timeoutMs,
    suite,
  };
}

/**
 * A memory network with the joiner's link (192.0.2.2) and a leader endpoint (the token's) that
 * hears each request (`heard`) and never answers; `join` is page's join over that link, which
 * fails once `timeoutMs` is over; `close` closes the leader's end.
 */
function silentLeader(heard: (bytes: number) => void = () => {}) {
  const net = new MemoryNetwork();
  const transport = net.bind("192.0.2.2", 40000);
  const leaderEnd = net.bind("192.0.2.1", 51820);
  leaderEnd.start({ datagram: (d) => heard(d.length), flush: () => {} });
  const join = (timeoutMs: number) =>
    joinOver(
      pageJoin(timeoutMs),
      checkJoinToken(token(), dh),
      generateKeyPair().privateKey,
      nullLogger,
      { transport, hasTcp: false, receiver: newJoinReceiver() },
    );
  return { net, transport, join, close: () => leaderEnd.close() };
}

Deno.test("join exchange: on a link it is given, sent to every leader endpoint, then closed", async () => {
  const heard: number[] = [];
  const { net, transport, join, close } = silentLeader((bytes) => heard.push(bytes));
  await assert.rejects(
    join(600),
    // No TCP on this link: none tried, and the message says UDP alone was.
    /no answer from the leader: no reply at all from 192\.0\.2\.1:51820 over udp/,
  );
  assert.ok(heard.length >= 2, `the leader heard ${heard.length} requests`);
  // The link is closed once the exchange is over: a send now goes nowhere.
  const before = net.sent;
  transport.send(Uint8Array.of(1), transport.endpoint("192.0.2.1:51820"));
  transport.flush();
  assert.equal(net.sent, before);
  await close();
});

Deno.test("join exchange: an unanswered request is resent less and less often", async () => {
  // A leader too far behind to answer.
  const { transport, join, close } = silentLeader();
  // When each request went (taken at the joiner: a delivery late under load would shorten the
  // gap after it).
  const heard: number[] = [];
  const send = transport.send.bind(transport);
  transport.send = (data, to) => {
    heard.push(performance.now());
    send(data, to);
  };
  await assert.rejects(join(6000), /no answer from the leader/);
  await close();
  const gaps = heard.slice(1).map((t, i) => Math.round(t - heard[i]));
  console.log(`${heard.length} requests in 6 s, resent after ${gaps.join(", ")} ms`);
  // Sent at once and resent by 375 ms then 1,125 ms at the latest, were its timers on time.
  assert.ok(gaps.length >= 2, `${heard.length} requests`);
  // Each wait is at least 250 ms doubled each time (a late timer only adds to it); resends at a
  // fixed rate would leave the second as short as the first.
  for (const [i, gap] of gaps.entries()) {
    const least = joinResendDelayMs(i + 1, () => 0) - 2;
    assert.ok(gap >= least, `resend ${i + 1} came after ${gap} ms, before ${least} ms`);
  }
});
