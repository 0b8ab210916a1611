import assert from "node:assert/strict";
import { resolveMesh } from "../resolve.ts";
import { checkJoinToken, JoinError, joinFromConfig, requestJoin } from "./client.ts";
import { MeshAgent } from "../mesh_agent.ts";
import { encodeToken } from "./token.ts";
import { MemoryNetwork } from "../../../drivers/memory.ts";
import { generateKeyPair } from "../../crypto/keys.ts";
import { selectSuite } from "../../crypto/select.ts";
import { createLogger, nullLogger } from "../../log/logger.ts";
import type { AgentConfig } from "../../config/agent_config.ts";
import type { NameLookup } from "../../net/resolve.ts";

const dh = selectSuite().dh;
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

Deno.test("join client: no answer from the leader fails after the timeout, naming it", async () => {
  const net = new MemoryNetwork();
  let said = "";
  await assert.rejects(
    requestJoin(
      resolveMesh({
        role: "node",
        stateDir: "/nonexistent",
        hostname: "n1",
        joinTimeoutMs: 1200,
        openTransport: () => Promise.resolve(net.bind("192.0.2.2", 51820)),
      }).join,
      checkJoinToken(token(), dh),
      generateKeyPair().privateKey,
      nullLogger,
    ),
    (e) => {
      said = String(e);
      return !(e instanceof JoinError) &&
        /no answer from the leader: no reply at all from 192\.0\.2\.1:51820 over udp \(a leader that is down, behind a firewall, or that does not know this token does not answer\) \(\d+ tries in \d+(\.\d)? s\)/
          .test(said);
    },
  );
  // Resent while it waits (four times a second at first; a starved test box fires timers late, so
  // only "more than once"), and the message counts the tries it made.
  assert.ok(net.sent >= 2, `sent ${net.sent}`);
  assert.match(said, new RegExp(`\\(${net.sent} tries in `));
});

Deno.test("join client: a leader name that never resolves fails with the lookup's cause", async () => {
  const net = new MemoryNetwork();
  const lookup: NameLookup = () => Promise.reject(new Error("no such host"));
  await assert.rejects(
    requestJoin(
      resolveMesh({
        role: "node",
        stateDir: "/nonexistent",
        hostname: "n1",
        joinTimeoutMs: 500,
        lookup,
        openTransport: () => Promise.resolve(net.bind("192.0.2.2", 51820)),
      }).join,
      checkJoinToken(token({ endpoints: ["leader.invalid:51820"] }), dh),
      generateKeyPair().privateKey,
      nullLogger,
    ),
    /could not resolve the leader's endpoint leader\.invalid:51820: .*no such host/,
  );
  assert.equal(net.sent, 0);
});

Deno.test("join client: the join section of a configuration is its token", () => {
  assert.deepEqual(
    joinFromConfig({ join: "weft1_x", joinTimeout: 90_000 } as AgentConfig),
    { token: "weft1_x", joinTimeoutMs: 90_000 },
  );
  assert.deepEqual(joinFromConfig({} as AgentConfig), {
    token: undefined,
    joinTimeoutMs: undefined,
  });
});

/** A loopback port free for both UDP and TCP now. */
function freeBoth(): number {
  for (;;) {
    const udp = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const port = (udp.addr as Deno.NetAddr).port;
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return port;
    } catch {
      // Taken on TCP: draw again.
    } finally {
      udp.close();
    }
  }
}

Deno.test("join client: where UDP goes unanswered the join goes over TCP, on the token's TCP port", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-join-tcp-" });
  const udpPort = freeBoth();
  const tcpPort = freeBoth();
  const leaderAgent = await MeshAgent.start({
    role: "leader",
    stateDir: `${dir}/lead`,
    hostname: "lead",
    userspace: true,
    network: "10.8.2.0/24",
    listenPort: udpPort,
    tcpPort,
    advertise: [`127.0.0.1:${udpPort}`],
    dnsPort: 0,
    logger: nullLogger,
  });
  try {
    assert.equal(leaderAgent.agent.tcpPort, tcpPort);
    const { token } = await leaderAgent.createToken({ ttlMs: 60_000, relay: true });
    const lines: string[] = [];
    // UDP to a memory network where no leader is: every request over it is lost.
    const net = new MemoryNetwork();
    const res = await requestJoin(
      resolveMesh({
        role: "node",
        stateDir: "/nonexistent",
        hostname: "n1",
        relay: true,
        tcpPort: 44444,
        openTransport: (port) => Promise.resolve(net.bind("192.0.2.2", port)),
      }).join,
      checkJoinToken(token, dh),
      generateKeyPair().privateKey,
      createLogger({ sink: (l) => lines.push(l) }),
    );
    assert.equal(res.joinedOver, "tcp");
    assert.equal(res.answeredFrom, `tcp://127.0.0.1:${tcpPort}`);
    assert.equal(res.member.name, "n1");
    assert.match(
      lines.join("\n"),
      new RegExp(`INFO joined over tcp leader=tcp://127\\.0\\.0\\.1:${tcpPort}`),
    );
    assert.ok(net.sent > 0, "UDP was tried first");
    // The leader's record of the member: what its request said, and no observed endpoint (its
    // TCP source port is no use to anyone).
    const rec = leaderAgent.view().members.find((m) => m.name === "n1")!;
    assert.equal(rec.relay, true);
    assert.equal(rec.tcpPort, 44444);
    assert.deepEqual(rec.endpoints, []);
    // The leader's own record: it relays, and where its TCP listens.
    assert.equal(res.leader.relay, true);
    assert.equal(res.leader.tcpPort, tcpPort);
  } finally {
    await leaderAgent.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("join client: a TCP port that refuses every dial ends the join early, saying so", async () => {
  const udpPort = freeBoth();
  const net = new MemoryNetwork();
  const text = token({ endpoints: [`127.0.0.1:${udpPort}`] });
  await assert.rejects(
    requestJoin(
      resolveMesh({
        role: "node",
        stateDir: "/nonexistent",
        hostname: "n1",
        // Far longer than the join takes: it ends on the third refusal in a row, not on this.
        joinTimeoutMs: 120_000,
        tcpPort: 40000,
        // UDP is lost (no leader on the memory network); TCP goes to loopback, where nothing
        // listens on the port.
        openTransport: (port) => Promise.resolve(net.bind("192.0.2.2", port)),
      }).join,
      checkJoinToken(text, dh),
      generateKeyPair().privateKey,
      nullLogger,
    ),
    (e) => {
      assert.ok(!(e instanceof JoinError), String(e));
      assert.match(
        String(e),
        new RegExp(
          `^Error: no answer from the leader: tcp://127\\.0\\.0\\.1:${udpPort} refused the ` +
            "connection 3 times \\(no weft listens on that TCP port: is the leader running\\?\\)" +
            // The WebSocket joins in 2 s after TCP, before the third refusal.
            `(, and over websocket ws://127\\.0\\.0\\.1:${udpPort} was refused too)? ` +
            "\\(\\d+ tries in [\\d.]+ s\\)$",
        ),
      );
      return true;
    },
  );
});

Deno.test("join client: a TCP port that takes the connection and never answers: check the token", async () => {
  const udpPort = freeBoth();
  const tcpPort = freeBoth();
  // A listener that reads whatever comes and never answers, as a leader that does not know the
  // token does.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: tcpPort });
  let accepted = 0;
  const serving = (async () => {
    for await (const conn of listener) {
      accepted++;
      conn.readable.pipeTo(new WritableStream()).catch(() => {});
    }
  })();
  const net = new MemoryNetwork();
  try {
    await assert.rejects(
      requestJoin(
        resolveMesh({
          role: "node",
          stateDir: "/nonexistent",
          hostname: "n1",
          // Past the first 2 s over UDP, when TCP joins in.
          joinTimeoutMs: 3200,
          tcpPort: 40000,
          openTransport: (port) => Promise.resolve(net.bind("192.0.2.2", port)),
        }).join,
        checkJoinToken(token({ endpoints: [`127.0.0.1:${udpPort}`], tcpPort }), dh),
        generateKeyPair().privateKey,
        nullLogger,
      ),
      (e) => {
        assert.match(
          String(e),
          new RegExp(
            `no answer from the leader: tcp://127\\.0\\.0\\.1:${tcpPort} took the connection ` +
              "but did not answer the join \\(a leader does not answer a token it does not know: " +
              "one from another mesh, or whose secret changed; check the token\\) " +
              "\\(\\d+ tries in 3\\.2 s\\)",
          ),
        );
        return true;
      },
    );
    assert.ok(accepted >= 1);
  } finally {
    listener.close();
    await serving.catch(() => {});
  }
});

Deno.test("join client: a web server on the TCP port: the WebSocket tried there says what it answered", async () => {
  const udpPort = freeBoth();
  const tcpPort = freeBoth();
  // Not a weft: an HTTP server, which takes the framed TCP and answers GET /weft/ws with a 404.
  let asked = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: tcpPort, onListen: () => {} }, (r) => {
    if (new URL(r.url).pathname === "/weft/ws") asked++;
    return new Response("not here", { status: 404 });
  });
  const net = new MemoryNetwork();
  try {
    await assert.rejects(
      requestJoin(
        resolveMesh({
          role: "node",
          stateDir: "/nonexistent",
          hostname: "n1",
          // Past the first 2 s over UDP (TCP joins in), then 2 s more (the WebSocket).
          joinTimeoutMs: 7000,
          tcpPort: 40000,
          openTransport: (port) => Promise.resolve(net.bind("192.0.2.2", port)),
        }).join,
        checkJoinToken(token({ endpoints: [`127.0.0.1:${udpPort}`], tcpPort }), dh),
        generateKeyPair().privateKey,
        nullLogger,
      ),
      (e) => {
        assert.match(
          String(e),
          new RegExp(
            `no answer from the leader: tcp://127\\.0\\.0\\.1:${tcpPort} took the connection ` +
              "but did not answer the join \\(.*check the token\\), and over websocket " +
              `ws://127\\.0\\.0\\.1:${tcpPort} could not be opened: the server did not upgrade ` +
              "\\(answered 404 Not Found\\): no weft serves a WebSocket there \\(check the " +
              "token's TCP port\\) \\(\\d+ tries in 7 s\\)$",
          ),
        );
        return true;
      },
    );
    assert.ok(asked >= 1, "the WebSocket was asked for");
  } finally {
    await server.shutdown();
  }
});

Deno.test("join client: no answer over UDP, and TCP refused or off", async () => {
  const udpPort = freeBoth();
  const tcpPort = freeBoth();
  const net = new MemoryNetwork();
  const text = token({ endpoints: [`127.0.0.1:${udpPort}`], tcpPort });
  const join = (tcp: number | undefined) =>
    requestJoin(
      resolveMesh({
        role: "node",
        stateDir: "/nonexistent",
        hostname: "n1",
        // Past the first 2 s over UDP, when TCP joins in.
        joinTimeoutMs: 3200,
        tcpPort: tcp,
        openTransport: (port) => Promise.resolve(net.bind("192.0.2.2", port)),
      }).join,
      checkJoinToken(text, dh),
      generateKeyPair().privateKey,
      nullLogger,
    );
  // Refused on the token's TCP port, though not yet often enough to end the join early.
  await assert.rejects(join(40000), (e) => {
    assert.match(
      String(e),
      new RegExp(
        `no answer from the leader: tcp://127\\.0\\.0\\.1:${tcpPort} refused the connection ` +
          "(\\d+ times )?\\(no weft listens",
      ),
    );
    return true;
  });
  // A node whose TCP is off does not try it: UDP alone cannot tell why.
  await assert.rejects(join(0), (e) => {
    assert.match(
      String(e),
      new RegExp(
        `no answer from the leader: no reply at all from 127\\.0\\.0\\.1:${udpPort} over udp`,
      ),
    );
    assert.doesNotMatch(String(e), /tcp:/);
    return true;
  });
});
