import assert from "node:assert/strict";
import { resolveMesh } from "../resolve.ts";
import { JOIN_LATE_MS, JoinServer, observedEndpoint, parseJoinRequest } from "./server.ts";
import { checkJoinToken, JoinError, requestJoin } from "./client.ts";
import { LeaderCore } from "../leader/core.ts";
import { encodeToken } from "./token.ts";
import { MSG_JOIN_REQUEST, sealJoinRequest } from "./crypto.ts";
import { joinResendDelayMs } from "./resend.ts";
import { Agent } from "../../agent/agent.ts";
import { MemoryNetwork } from "../../../drivers/memory.ts";
import { generateKeyPair, parseKey } from "../../crypto/keys.ts";
import { encodeBase64 } from "../../crypto/base64.ts";
import { joinKeyProof } from "./key_proof.ts";
import { selectSuite } from "../../crypto/select.ts";
import { createLogger, nullLogger } from "../../log/logger.ts";

const enc = new TextEncoder();

/** A leader agent on a memory network whose join datagrams go to a JoinServer. */
async function leaderLab(logger = nullLogger) {
  const net = new MemoryNetwork();
  const keys = generateKeyPair();
  const core = await LeaderCore.open(null, {
    network: "10.6.0.0/24",
    hostname: "lead",
    publicKey: keys.publicKey,
    endpoints: ["192.0.2.1:51820"],
  });
  let server: JoinServer | null = null;
  const transport = net.bind("192.0.2.1", 51820);
  const agent = await Agent.start({
    privateKey: keys.privateKey,
    addresses: ["10.6.0.1/24"],
    transport,
    logger: nullLogger,
    onForeignDatagram: (data, from, waitedMs) => server?.handle(data, from, waitedMs),
  });
  server = new JoinServer({ core, device: agent.device, logger });
  const newToken = async (uses: number | null = null) => {
    const t = await core.createToken({ ttlMs: 60_000, uses, labels: {} });
    return encodeToken({
      leaderKey: keys.publicKey,
      endpoints: core.leader.endpoints,
      network: core.network,
      id: t.id,
      secret: t.secret,
    });
  };
  let port = 40000;
  const join = (
    token: string,
    hostname: string,
    privateKey = generateKeyPair().privateKey,
    run?: string,
  ) =>
    requestJoin(
      resolveMesh({
        role: "node",
        stateDir: "/nonexistent",
        hostname,
        joinTimeoutMs: 1500,
        openTransport: () => Promise.resolve(net.bind("192.0.2.2", port++)),
      }).join,
      checkJoinToken(token, selectSuite().dh),
      privateKey,
      nullLogger,
      undefined,
      run,
    );
  const close = async () => {
    server!.close();
    await agent.close();
  };
  return { net, transport, core, agent, server, newToken, join, close };
}

Deno.test("join server: a request with a known token is answered with an allocation", async () => {
  const lines: string[] = [];
  const lab = await leaderLab(createLogger({ sink: (l) => lines.push(l) }));
  try {
    const token = await lab.newToken(1);
    const key = generateKeyPair().privateKey;
    const res = await lab.join(token, "n1", key);
    assert.equal(res.member.name, "n1");
    assert.equal(res.joinedOver, "udp");
    assert.equal(res.answeredFrom, "192.0.2.1:51820");
    // Where the leader saw the request come from is the member's first endpoint.
    assert.deepEqual(res.member.endpoints, ["192.0.2.2:40000"]);
    assert.equal(res.member.address, "10.6.0.2");
    assert.equal(res.member.run, undefined, "no run id asked: none in the record");
    assert.equal(res.leader.name, "lead");
    assert.equal(res.network, "10.6.0.0/24");
    assert.match(lines.join("\n"), /node joined name=n1 address=10\.6\.0\.2/);
    // The same key again (a lost answer): the same allocation, the one use not spent twice.
    const again = await lab.join(token, "n1", key);
    assert.equal(again.member.address, "10.6.0.2");
    assert.equal(lab.core.listTokens()[0].usesLeft, 0);
  } finally {
    await lab.close();
  }
});

Deno.test("join server: a refusal is answered (a JoinError at the joiner) and logged", async () => {
  const lines: string[] = [];
  const lab = await leaderLab(createLogger({ sink: (l) => lines.push(l) }));
  try {
    const token = await lab.newToken();
    await lab.join(token, "n1");
    // Refused for what the joiner was given: a JoinError (exit code 2).
    await assert.rejects(
      lab.join(token, "Bad_Name"),
      (e) => e instanceof JoinError && /join refused: hostname "Bad_Name" is not/.test(e.message),
    );
    assert.match(lines.join("\n"), /join refused hostname=Bad_Name/);
    // So is a request announcing what its flags could not give (an endpoint that is none).
    await assert.rejects(
      requestJoin(
        resolveMesh({
          role: "node",
          stateDir: "/nonexistent",
          hostname: "odd",
          advertise: ["not an endpoint"],
          openTransport: () => Promise.resolve(lab.net.bind("192.0.2.3", 40000)),
        }).join,
        checkJoinToken(token, selectSuite().dh),
        generateKeyPair().privateKey,
        nullLogger,
      ),
      (e) => e instanceof JoinError && e.message === "join refused: malformed request",
    );
    // A name another member holds is no refusal: the joiner is told the one it got, and the
    // leader's log says what it asked for.
    assert.equal((await lab.join(token, "n1")).member.name, "n1-2");
    assert.match(lines.join("\n"), /node joined name=n1-2 .*asked=n1/);
  } finally {
    await lab.close();
  }
});

Deno.test("join server: what is not a join is counted, never answered", async () => {
  const lab = await leaderLab();
  try {
    const from = lab.agent.device.endpoint("192.0.2.9:1000");
    const other = new Uint8Array(32);
    other[0] = 0x7f; // no known message type
    lab.server.handle(other, from);
    assert.equal(lab.agent.device.drops.get("unknown-type"), 1);
    // A join request with a token id the leader never made: dropped before any DH.
    const suite = selectSuite();
    const { message } = sealJoinRequest(
      suite.dh,
      suite.aead,
      parseKey(lab.agent.device.publicKey, "key"),
      new Uint8Array(6).fill(7),
      new Uint8Array(32),
      enc.encode("{}"),
    );
    lab.server.handle(message, from);
    const drops = lab.server.drops();
    assert.equal(drops["unknown-token"], 1, JSON.stringify(drops));
    assert.equal(lab.net.sent, 0, "nothing was sent");
  } finally {
    await lab.close();
  }
});

/**
 * A join request of a new key named `hostname` with a new token of `lab`'s leader: each call seals
 * it afresh (a new ephemeral key), as a joiner's resend does.
 */
async function joinRequest(
  lab: Awaited<ReturnType<typeof leaderLab>>,
  hostname: string,
): Promise<() => Uint8Array> {
  const suite = selectSuite();
  const checked = checkJoinToken(await lab.newToken(), suite.dh);
  const req = {
    tokenId: checked.token.id,
    secret: checked.token.secret,
    publicKey: generateKeyPair().publicKey,
    hostname,
    labels: {},
    services: [],
    endpoints: [],
    time: Date.now(),
  };
  return () =>
    sealJoinRequest(
      suite.dh,
      suite.aead,
      checked.leaderKey,
      checked.tokenId,
      checked.mac1Key,
      enc.encode(JSON.stringify(req)),
    ).message;
}

Deno.test("join server: a copy of a request being handled is dropped before its DH, of one answered gets its answer", async () => {
  const lab = await leaderLab();
  try {
    const message = (await joinRequest(lab, "twice"))();
    const from = lab.agent.device.endpoint("192.0.2.9:1000");
    const sent = lab.net.sent;
    lab.server.handle(message, from);
    lab.server.handle(message, from); // resent before the answer
    assert.equal(lab.server.drops()["resent"], 1);
    await until(() => lab.net.sent > sent);
    assert.equal(lab.core.member("twice")?.name, "twice");
    assert.equal(lab.net.sent - sent, 1, "one answer");
    // Once answered, a copy (the answer may have been lost) gets the same answer from memory.
    lab.server.handle(message, from);
    assert.equal(lab.server.drops()["resent"], 2);
    await until(() => lab.net.sent > sent + 1);
    // From another source it is handled again: the same member, no second one.
    lab.server.handle(message, lab.agent.device.endpoint("192.0.2.10:1000"));
    await until(() => lab.net.sent > sent + 2);
    assert.equal(lab.server.drops()["resent"], 2);
    assert.equal(lab.core.size, 2);
  } finally {
    await lab.close();
  }
});

/**
 * A joiner at 192.0.2.9:1000 that keeps the answers it gets, with `lab`'s leader socket handing
 * each datagram over as having waited `wait.ms` (as the Linux driver says a datagram's wait).
 */
function lateJoiner(lab: Awaited<ReturnType<typeof leaderLab>>, wait: { ms: number }) {
  const inner = lab.transport.sink!;
  lab.transport.sink = {
    datagram: (data, from) => inner.datagram(data, from, wait.ms),
    flush: () => inner.flush(),
  };
  const joiner = lab.net.bind("192.0.2.9", 1000);
  const answers: Uint8Array[] = [];
  joiner.start({ datagram: (d) => answers.push(d.slice()), flush: () => {} });
  return { joiner, answers };
}

async function until(cond: () => boolean, guardMs = 10_000): Promise<void> {
  // A guard against a hang only: the test waits for the event.
  const end = Date.now() + guardMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}

Deno.test("join server: a token made after the server started is admitted", async () => {
  const lab = await leaderLab();
  try {
    const token = await lab.newToken();
    assert.equal((await lab.join(token, "late")).member.name, "late");
  } finally {
    await lab.close();
  }
});

Deno.test("join server: a request is checked field by field against the token it names", () => {
  const datagram = new Uint8Array(64);
  datagram.set([0, 0, 0, 0, 0, 5], 8); // token id 5 in clear
  datagram[0] = MSG_JOIN_REQUEST;
  const good = {
    tokenId: "000000000005",
    secret: "c2VjcmV0",
    publicKey: generateKeyPair().publicKey,
    hostname: "n1",
    labels: {},
    services: [],
    endpoints: ["192.0.2.5:51820"],
    time: 1,
  };
  const parse = (o: unknown) => parseJoinRequest(enc.encode(JSON.stringify(o)), datagram);
  assert.deepEqual(parse(good), good);
  assert.equal(parse({ ...good, tokenId: "000000000006" }), null, "another token inside");
  assert.equal(parse({ ...good, time: 0 }), null);
  assert.equal(parse({ ...good, publicKey: "short" }), null);
  assert.equal(parse({ ...good, endpoints: ["nowhere"] }), null);
  assert.equal(parse({ ...good, hostname: 7 }), null);
  // Whether it relays and its TCP port: optional, checked when present.
  assert.deepEqual(parse({ ...good, relay: true, tcpPort: 443 }), {
    ...good,
    relay: true,
    tcpPort: 443,
  });
  assert.deepEqual(parse({ ...good, relay: false }), good);
  assert.equal(parse({ ...good, relay: "yes" }), null);
  assert.equal(parse({ ...good, tcpPort: 0 }), null);
  assert.equal(parse({ ...good, tcpPort: 65536 }), null);
  assert.equal(parse({ ...good, tcpPort: "443" }), null);
  assert.equal(parseJoinRequest(enc.encode("not json"), datagram), null);
  // The run id: kept when it is one, left out (not refused) when malformed.
  assert.deepEqual(parse({ ...good, run: "0123456789abcdef" }), {
    ...good,
    run: "0123456789abcdef",
  });
  assert.deepEqual(parse({ ...good, run: "not a run" }), good);
  // The key proof: 16 bytes in base64 when present.
  const keyProof = btoa("k".repeat(16));
  assert.deepEqual(parse({ ...good, keyProof }), { ...good, keyProof });
  assert.equal(parse({ ...good, keyProof: btoa("k".repeat(15)) }), null);
  assert.equal(parse({ ...good, keyProof: 16 }), null);
});

Deno.test("join server: a request naming a member's key is a resend only with its holder's proof", async () => {
  const lab = await leaderLab();
  try {
    const token = await lab.newToken();
    const holder = generateKeyPair();
    const joined = await lab.join(token, "n1", holder.privateKey);
    assert.equal(joined.member.publicKey, holder.publicKey);
    const suite = selectSuite();
    const checked = checkJoinToken(token, suite.dh);
    const from = lab.agent.device.endpoint("192.0.2.9:1000");
    // A token holder names n1's key: without a proof, with another key's, and from the future.
    const send = (fields: Record<string, unknown>) => {
      const req = {
        tokenId: checked.token.id,
        secret: checked.token.secret,
        publicKey: holder.publicKey,
        hostname: "x",
        labels: {},
        services: [],
        endpoints: [],
        time: Date.now() + 60_000,
        ...fields,
      };
      const sent = lab.net.sent;
      const { message } = sealJoinRequest(
        suite.dh,
        suite.aead,
        checked.leaderKey,
        checked.tokenId,
        checked.mac1Key,
        (ephemeral) => {
          const other = parseKey(generateKeyPair().privateKey, "key");
          const proof = joinKeyProof(suite.dh, other, checked.leaderKey, {
            leaderKey: checked.leaderKey,
            joinerKey: parseKey(holder.publicKey, "key"),
            ephemeral,
            time: req.time,
          })!;
          return enc.encode(
            JSON.stringify(
              fields.keyProof === true ? { ...req, keyProof: encodeBase64(proof) } : req,
            ),
          );
        },
      );
      lab.server.handle(message, from);
      return until(() => lab.net.sent > sent);
    };
    const before = JSON.stringify(lab.core.view());
    await send({});
    await send({ keyProof: true });
    assert.equal(lab.server.drops()["not-key-holder"], 2, JSON.stringify(lab.server.drops()));
    await send({ time: Date.now() + 10 * 365 * 86_400_000 });
    assert.equal(lab.server.drops()["future"], 1, JSON.stringify(lab.server.drops()));
    assert.equal(JSON.stringify(lab.core.view()), before, "nothing changed");
    // The holder's own request again (its answer was lost): answered, the same address.
    const again = await lab.join(token, "n1", holder.privateKey);
    assert.equal(again.member.address, joined.member.address);
  } finally {
    await lab.close();
  }
});

Deno.test("join server: the run id a joiner sends is in the record its join makes", async () => {
  const lab = await leaderLab(nullLogger);
  try {
    const res = await lab.join(await lab.newToken(1), "n1", undefined, "0123456789abcdef");
    assert.equal(res.member.run, "0123456789abcdef");
    assert.equal(lab.core.view().members.find((m) => m.name === "n1")?.run, "0123456789abcdef");
  } finally {
    await lab.close();
  }
});

Deno.test("join server: only a UDP source is an observed endpoint", () => {
  const ep = (proto: "udp" | "tcp" | "relay" | undefined, text: string) => ({
    address: "203.0.113.7",
    port: 40123,
    family: 4 as const,
    proto,
    toString: () => text,
  });
  assert.equal(observedEndpoint(ep(undefined, "203.0.113.7:40123")), "203.0.113.7:40123");
  assert.equal(observedEndpoint(ep("udp", "203.0.113.7:40123")), "203.0.113.7:40123");
  assert.equal(observedEndpoint(ep("tcp", "tcp://203.0.113.7:40123")), null);
  assert.equal(observedEndpoint(ep("relay", "relay://r/p")), null);
});

Deno.test("join server: a request that waited longer than a joiner waits between copies is dropped before any MAC, and counted; one on time is answered", async () => {
  const lab = await leaderLab();
  try {
    const wait = { ms: JOIN_LATE_MS + 1 };
    const { joiner, answers } = lateJoiner(lab, wait);
    const seal = await joinRequest(lab, "late");
    const leader = joiner.endpoint("192.0.2.1:51820");
    joiner.send(seal(), leader);
    // A forged one (a wrong MAC1) is dropped as late too: no MAC was computed.
    const forged = seal();
    forged[forged.length - 20] ^= 1;
    joiner.send(forged, leader);
    joiner.flush();
    await until(() => (lab.server.drops()["late"] ?? 0) === 2);
    let drops = lab.server.drops();
    assert.equal(drops["mac1"], 0, JSON.stringify(drops));
    assert.equal(lab.core.member("late"), undefined);
    assert.equal(answers.length, 0, "neither answered nor sent a cookie");
    // The joiner's next copy, read within that wait, is answered.
    wait.ms = JOIN_LATE_MS;
    joiner.send(seal(), leader);
    joiner.flush();
    await until(() => answers.length > 0);
    assert.equal(lab.core.member("late")?.name, "late");
    drops = lab.server.drops();
    assert.equal(drops["late"], 2, JSON.stringify(drops));
    await joiner.close();
  } finally {
    await lab.close();
  }
});

Deno.test("join server: a copy that waited as long as a joiner deep in its backoff waits between copies is answered (it may be its newest)", async () => {
  const lab = await leaderLab();
  try {
    // The longest wait of the joiner's schedule (every resend, the most jitter): a copy read
    // that late may be the last one its joiner sent, with none behind it.
    let longest = 0;
    for (let n = 1; n <= 30; n++) longest = Math.max(longest, joinResendDelayMs(n, () => 0.9999));
    const { joiner, answers } = lateJoiner(lab, { ms: Math.floor(longest) });
    const seal = await joinRequest(lab, "behind");
    joiner.send(seal(), joiner.endpoint("192.0.2.1:51820"));
    joiner.flush();
    await until(() => answers.length > 0 || (lab.server.drops()["late"] ?? 0) > 0);
    assert.equal(lab.server.drops()["late"] ?? 0, 0, `a copy ${Math.floor(longest)} ms late`);
    await until(() => lab.core.member("behind") !== undefined);
    await joiner.close();
  } finally {
    await lab.close();
  }
});

Deno.test("join server: a copy read after the answer, as late as copies are taken, gets the answer from memory, not a second join", async () => {
  const lab = await leaderLab();
  try {
    const message = (await joinRequest(lab, "copied"))();
    const from = lab.agent.device.endpoint("192.0.2.9:1000");
    const sent = lab.net.sent;
    lab.server.handle(message, from);
    await until(() => lab.net.sent > sent);
    const answeredAt = performance.now();
    // A copy sent before the answer reached the joiner, read more than 5 s after the answer went
    // (it waited in the queue less than JOIN_LATE_MS: not late).
    await until(() => performance.now() - answeredAt > 5100, 20_000);
    lab.server.handle(message, from, JOIN_LATE_MS - 1);
    assert.equal(lab.server.drops()["resent"], 1, JSON.stringify(lab.server.drops()));
    await until(() => lab.net.sent > sent + 1);
  } finally {
    await lab.close();
  }
});
