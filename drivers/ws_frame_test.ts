import assert from "node:assert/strict";
import {
  checkUpgradeResponse,
  errorResponse,
  headEnd,
  MaskSource,
  parseUpgradeRequest,
  parseWsFrame,
  startsWithGet,
  upgradeRequest,
  upgradeResponse,
  writeWsFrame,
  WS_MAX_HEADER,
  WS_OP,
  WS_PATH,
  WS_PROTOCOL,
  wsAccept,
  type WsFrame,
  wsHeaderSize,
  wsKey,
} from "./ws_frame.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const frame = (): WsFrame => ({ opcode: -1, start: 0, end: 0 });

Deno.test("ws: Sec-WebSocket-Accept is RFC 6455's example", async () => {
  // RFC 6455 section 1.3.
  assert.equal(await wsAccept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  assert.match(wsKey(), /^[A-Za-z0-9+/]{22}==$/);
  assert.notEqual(wsKey(), wsKey());
});

Deno.test("ws: RFC 6455's example frames parse (masked Hello from a client)", () => {
  // Section 5.7: a single-frame masked text message "Hello", here with the binary opcode.
  const bin = new Uint8Array([0x82, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
  const f = frame();
  assert.equal(parseWsFrame(bin, 0, bin.length, 1000, true, f), "frame");
  assert.equal(f.opcode, WS_OP.binary);
  assert.equal(dec.decode(bin.subarray(f.start, f.end)), "Hello");
  assert.equal(f.end, bin.length);
  // The same as text: weft carries binary only.
  const text = new Uint8Array([0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
  assert.equal(parseWsFrame(text, 0, text.length, 1000, false, f), "text");
  // An unmasked ping "Hello" to a client.
  const ping = new Uint8Array([0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
  assert.equal(parseWsFrame(ping, 0, ping.length, 1000, false, f), "frame");
  assert.equal(f.opcode, WS_OP.ping);
});

Deno.test("ws: frames written are parsed back, masked and not, at every length form", () => {
  const masks = new MaskSource();
  for (const len of [0, 1, 125, 126, 127, 1000, 65535]) {
    for (const masked of [false, true]) {
      const payload = new Uint8Array(len).map((_, i) => (i * 7 + 3) & 0xff);
      const size = wsHeaderSize(len, masked) + len;
      assert.ok(wsHeaderSize(len, masked) <= WS_MAX_HEADER);
      const buf = new Uint8Array(size + 3);
      const n = writeWsFrame(
        buf,
        3,
        WS_OP.binary,
        payload,
        masked ? masks.pool : null,
        masked ? masks.take() : 0,
      );
      assert.equal(n, size);
      const f = frame();
      // Every prefix short of the whole frame asks for more.
      for (const cut of [4, 5, 3 + size - 1]) {
        if (cut < 3 + size) assert.equal(parseWsFrame(buf, 3, cut, 65535, masked, f), "need");
      }
      assert.equal(parseWsFrame(buf, 3, 3 + size, 65535, masked, f), "frame", `len ${len}`);
      assert.deepEqual(buf.subarray(f.start, f.end), payload, `len ${len} masked ${masked}`);
      assert.equal(f.end, 3 + size);
    }
  }
});

Deno.test("ws: an incomplete frame says how long it is once its header is in", () => {
  const buf = new Uint8Array(4 + 300);
  writeWsFrame(buf, 0, WS_OP.binary, new Uint8Array(300), null);
  const f = frame();
  assert.equal(parseWsFrame(buf, 0, 1, 65535, false, f), "need");
  assert.equal(f.end, 0);
  assert.equal(parseWsFrame(buf, 0, 3, 65535, false, f), "need");
  assert.equal(f.end, 0);
  assert.equal(parseWsFrame(buf, 0, 10, 65535, false, f), "need");
  assert.equal(f.end, 304);
});

Deno.test("ws: malformed frames are refused, each with its reason", () => {
  const f = frame();
  const cases: [string, number[], boolean, string][] = [
    ["reserved bit", [0xc2, 0x80, 0, 0, 0, 0], true, "reserved-bits"],
    ["opcode 3", [0x83, 0x80, 0, 0, 0, 0], true, "bad-opcode"],
    ["opcode 0xb", [0x8b, 0x80, 0, 0, 0, 0], true, "bad-opcode"],
    ["no FIN", [0x02, 0x80, 0, 0, 0, 0], true, "fragmented"],
    ["continuation", [0x80, 0x80, 0, 0, 0, 0], true, "fragmented"],
    ["text", [0x81, 0x80, 0, 0, 0, 0], true, "text"],
    ["unmasked from a client", [0x82, 0x01, 0], true, "unmasked"],
    ["masked from a server", [0x82, 0x81, 0, 0, 0, 0, 0], false, "masked"],
    ["64-bit length", [0x82, 0xff, 0, 0, 0, 0, 0, 1, 0, 0], true, "too-large"],
    ["non-minimal length", [0x82, 0xfe, 0, 5, 0, 0, 0, 0], true, "bad-length"],
    ["long ping", [0x89, 0xfe, 0, 126, 0, 0, 0, 0], true, "control-too-large"],
    ["ping without FIN", [0x09, 0x80, 0, 0, 0, 0], true, "fragmented"],
    ["past the limit", [0x82, 0xfe, 0x04, 0x01, 0, 0, 0, 0], true, "too-large"],
  ];
  for (const [what, bytes, masked, want] of cases) {
    const b = new Uint8Array(bytes);
    assert.equal(parseWsFrame(b, 0, b.length, 1024, masked, f), want, what);
  }
});

Deno.test("ws: masking keys come from a refilled pool, never the same run twice", () => {
  const m = new MaskSource();
  const seen = new Set<string>();
  for (let i = 0; i < 2048; i++) {
    const at = m.take();
    assert.ok(at + 4 <= m.pool.length);
    seen.add(m.pool.subarray(at, at + 4).join(","));
  }
  // 2,048 keys of 32 random bits: a repeat is possible but rare; most must differ.
  assert.ok(seen.size > 2000);
});

function request(lines: string[]): Uint8Array {
  return enc.encode(lines.join("\r\n") + "\r\n\r\n");
}

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const GOOD = [
  `GET ${WS_PATH} HTTP/1.1`,
  "Host: 192.0.2.1:51820",
  "Upgrade: websocket",
  "Connection: keep-alive, Upgrade",
  `Sec-WebSocket-Key: ${KEY}`,
  "Sec-WebSocket-Version: 13",
  `Sec-WebSocket-Protocol: chat, ${WS_PROTOCOL}`,
  "Origin: http://example.com",
];

Deno.test("ws: upgrade requests are checked: path, subprotocol, key, version, method", () => {
  assert.deepEqual(parseUpgradeRequest(request(GOOD)), { ok: true, key: KEY });
  // A browser's request: the same with a query string and mixed-case names.
  const browser = GOOD.map((l) => l.replace("Upgrade: websocket", "upgrade: WebSocket"));
  browser[0] = `GET ${WS_PATH}?v=1 HTTP/1.1`;
  assert.equal(parseUpgradeRequest(request(browser)).ok, true);
  const refused = (edit: (l: string[]) => string[]) => {
    const r = parseUpgradeRequest(request(edit([...GOOD])));
    assert.equal(r.ok, false);
    return r.ok ? 0 : r.status;
  };
  assert.equal(refused((l) => [`GET / HTTP/1.1`, ...l.slice(1)]), 404);
  assert.equal(refused((l) => [`GET /weft/ws2 HTTP/1.1`, ...l.slice(1)]), 404);
  assert.equal(refused((l) => [`POST ${WS_PATH} HTTP/1.1`, ...l.slice(1)]), 405);
  assert.equal(refused((l) => [`GET ${WS_PATH} HTTP/1.0`, ...l.slice(1)]), 400);
  assert.equal(refused((l) => l.filter((x) => !x.startsWith("Sec-WebSocket-Protocol"))), 400);
  assert.equal(refused((l) => l.map((x) => x.replace(WS_PROTOCOL, "weft.v2"))), 400);
  assert.equal(refused((l) => l.map((x) => x.replace("13", "8"))), 400);
  assert.equal(refused((l) => l.map((x) => x.replace(KEY, "short=="))), 400);
  assert.equal(refused((l) => l.filter((x) => !x.startsWith("Upgrade"))), 400);
  assert.equal(refused((l) => [...l, "no colon here"]), 400);
  assert.equal(refused(() => ["GET"]), 400);
});

Deno.test("ws: the client checks the answer: 101, accept value, subprotocol, no extensions", async () => {
  const accept = await wsAccept(KEY);
  const ok = upgradeResponse(accept);
  assert.equal(checkUpgradeResponse(ok.subarray(0, headEnd(ok, ok.length)), accept), null);
  assert.match(checkUpgradeResponse(ok, "x")!, /Accept/);
  assert.match(checkUpgradeResponse(errorResponse(404), accept)!, /404 Not Found/);
  const noProto = dec.decode(ok).replace(`Sec-WebSocket-Protocol: ${WS_PROTOCOL}\r\n`, "");
  assert.match(checkUpgradeResponse(enc.encode(noProto), accept)!, /subprotocol/);
  const ext = dec.decode(ok).replace("\r\n\r\n", "\r\nSec-WebSocket-Extensions: x\r\n\r\n");
  assert.match(checkUpgradeResponse(enc.encode(ext), accept)!, /extensions/);
  // The request the client sends passes the server's check.
  const req = upgradeRequest("192.0.2.1:1", KEY);
  assert.deepEqual(parseUpgradeRequest(req), { ok: true, key: KEY });
});

Deno.test("ws: the first bytes tell an HTTP request from a length-prefixed stream", () => {
  const get = enc.encode("GET /weft/ws HTTP/1.1");
  assert.equal(startsWithGet(get, 0), null);
  assert.equal(startsWithGet(get, 3), null);
  assert.equal(startsWithGet(get, 4), true);
  // A WireGuard initiation framed for TCP: length 148, type 1.
  const framed = new Uint8Array([0, 148, 1, 0, 0, 0]);
  assert.equal(startsWithGet(framed, 1), false);
  // 'G' as a length's high byte, then a payload that is no message weft sends.
  assert.equal(startsWithGet(new Uint8Array([0x47, 0x45, 0x54, 0x21]), 4), false);
  assert.equal(startsWithGet(new Uint8Array([0x47, 0x46]), 2), false);
  assert.equal(headEnd(enc.encode("a\r\n\r\nb"), 6), 5);
  assert.equal(headEnd(enc.encode("a\r\n\r"), 4), -1);
});
