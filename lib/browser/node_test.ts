import assert from "node:assert/strict";
import { generateKeyPair } from "../crypto/keys.ts";
import { nobleDh } from "../crypto/noble.ts";
import { checkJoinToken, JoinError } from "../mesh/join/exchange.ts";
import { encodeToken } from "../mesh/join/token.ts";
import { joinMesh, tokenWebSocketUrl } from "./node.ts";

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

Deno.test("browser node: the default WebSocket is the token's leader, on its TCP port", () => {
  const url = (t: string, secure = false) => tokenWebSocketUrl(checkJoinToken(t, nobleDh), secure);
  assert.equal(url(token()), "ws://192.0.2.1:51820");
  assert.equal(url(token({ tcpPort: 443 }), true), "wss://192.0.2.1:443");
  assert.equal(url(token({ endpoints: ["[2001:db8::1]:7000"] })), "ws://[2001:db8::1]:7000");
  assert.equal(url(token({ endpoints: ["hub.example:51820"] })), "ws://hub.example:51820");
});

Deno.test("browser node: a token that cannot be used is refused before any socket opens", async () => {
  let made = 0;
  const webSocket = class extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      made++;
      super(url, protocols);
    }
  };
  await assert.rejects(
    joinMesh({ token: "not a token", url: "ws://127.0.0.1:1", webSocket }),
    (e) => e instanceof JoinError && /not a weft join token/.test(e.message),
  );
  await assert.rejects(
    joinMesh({ token: token(), url: "http://127.0.0.1:1", webSocket }),
    /not a WebSocket URL/,
  );
  assert.equal(made, 0);
});

Deno.test("browser node: a WebSocket that does not open is a clear error", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  await assert.rejects(
    joinMesh({ token: token(), url: `ws://127.0.0.1:${port}` }),
    /could not open the WebSocket ws:\/\/127\.0\.0\.1:\d+\/weft\/ws/,
  );
});

Deno.test("browser node: a leader that does not answer fails the join in time; its socket is closed", async () => {
  let closed = 0;
  let requests = 0;
  const srv = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req, { protocol: "weft.v1" });
    socket.onmessage = () => requests++;
    socket.onclose = () => closed++;
    return response;
  });
  try {
    await assert.rejects(
      joinMesh({ token: token(), url: `ws://127.0.0.1:${srv.addr.port}`, joinTimeoutMs: 700 }),
      /no answer from the leader/,
    );
    assert.ok(requests >= 2, `${requests} requests`);
    while (closed < 1) await new Promise((r) => setTimeout(r, 10));
    assert.equal(closed, 1, "the join's socket, and no other");
  } finally {
    await srv.shutdown();
  }
});
