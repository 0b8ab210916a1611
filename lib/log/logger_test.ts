import assert from "node:assert/strict";
import {
  createLogger,
  isSecretFieldName,
  type LogFormat,
  type Logger,
  type LogLevel,
  nullLogger,
  parseLogFormat,
  parseLogLevel,
} from "./logger.ts";

const FIXED = new Date("2026-11-21T10:00:00.000Z");

function capture(level: LogLevel, format: LogFormat): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log = createLogger({ level, format, sink: (l) => lines.push(l), now: () => FIXED });
  return { log, lines };
}

Deno.test("text format: timestamp, level, event, key=value with quoting", () => {
  const { log, lines } = capture("debug", "text");
  log.info("peer.up", { peer: "alice", port: 51820, note: "two words", empty: "", ok: true });
  assert.deepEqual(lines, [
    '2026-11-21T10:00:00.000Z INFO peer.up peer=alice port=51820 note="two words" empty="" ok=true',
  ]);
});

Deno.test("text format: values with quotes, equals and newlines stay on one quoted line", () => {
  const { log, lines } = capture("info", "text");
  log.warn("odd\nevent", { a: 'say "hi"', b: "x=y", c: "line1\nline2", "bad name": 1 });
  assert.equal(lines.length, 1);
  assert.ok(!lines[0].includes("\n"));
  assert.equal(
    lines[0],
    '2026-11-21T10:00:00.000Z WARN odd event a="say \\"hi\\"" b="x=y" c="line1\\nline2" bad_name=1',
  );
});

Deno.test("json format: envelope then fields, one parseable line", () => {
  const { log, lines } = capture("info", "json");
  log.error("handshake.failed", { peer: "bob", attempts: 3, nested: { a: [1, 2] } });
  assert.equal(lines.length, 1);
  assert.ok(lines[0].startsWith('{"ts":"2026-11-21T10:00:00.000Z","level":"error","msg":"'));
  assert.deepEqual(JSON.parse(lines[0]), {
    ts: "2026-11-21T10:00:00.000Z",
    level: "error",
    msg: "handshake.failed",
    peer: "bob",
    attempts: 3,
    nested: { a: [1, 2] },
  });
});

Deno.test("json format: fields named like the envelope do not overwrite it", () => {
  const { log, lines } = capture("info", "json");
  log.info("real", { msg: "fake", level: "fake", ts: "fake" });
  const obj = JSON.parse(lines[0]);
  assert.equal(obj.msg, "real");
  assert.equal(obj.level, "info");
  assert.equal(obj.ts, "2026-11-21T10:00:00.000Z");
  assert.equal(obj["field.msg"], "fake");
});

Deno.test("levels filter lower-severity events", () => {
  for (
    const [level, expected] of [
      ["debug", ["debug", "info", "warn", "error"]],
      ["info", ["info", "warn", "error"]],
      ["warn", ["warn", "error"]],
      ["error", ["error"]],
    ] as const
  ) {
    const { log, lines } = capture(level, "json");
    log.debug("e");
    log.info("e");
    log.warn("e");
    log.error("e");
    assert.deepEqual(lines.map((l) => JSON.parse(l).level), expected, `level ${level}`);
    assert.equal(log.enabled("debug"), level === "debug");
    assert.equal(log.enabled("error"), true);
  }
});

Deno.test("secret-looking field names are redacted, public keys are not", () => {
  const secret = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=";
  for (const format of ["text", "json"] as const) {
    const { log, lines } = capture("info", format);
    log.info("cfg", {
      privateKey: secret,
      private_key: secret,
      presharedKey: secret,
      psk: secret,
      apiToken: secret,
      clientSecret: secret,
      PASSWORD: secret,
      key: secret,
      publicKey: "PUB1",
      public_key: "PUB2",
      pubkey: "PUB3",
      peerPublicKey: "PUB4",
      peer: { name: "n", privateKey: secret, keys: [secret] },
      peers: [{ presharedKey: secret, publicKey: "PUB5" }],
    });
    assert.equal(lines.length, 1);
    assert.ok(!lines[0].includes(secret), `${format} leaked a secret: ${lines[0]}`);
    for (const pub of ["PUB1", "PUB2", "PUB3", "PUB4", "PUB5"]) {
      assert.ok(lines[0].includes(pub), `${format} hid ${pub}`);
    }
    if (format === "json") {
      const obj = JSON.parse(lines[0]);
      assert.equal(obj.privateKey, "[redacted]");
      assert.equal(obj.psk, "[redacted]");
      assert.equal(obj.peer.privateKey, "[redacted]");
      assert.equal(obj.peer.keys, "[redacted]");
      assert.equal(obj.peer.name, "n");
      assert.equal(obj.peers[0].presharedKey, "[redacted]");
    } else {
      assert.match(lines[0], / privateKey=\[redacted\] /);
      assert.match(lines[0], / publicKey=PUB1 /);
    }
  }
  assert.equal(isSecretFieldName("sessionToken"), true);
  assert.equal(isSecretFieldName("publicKey"), false);
  assert.equal(isSecretFieldName("endpoint"), false);
});

Deno.test("byte arrays print as their length only", () => {
  const bytes = new Uint8Array([0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4]);
  const { log, lines } = capture("info", "json");
  log.info("packet", { data: bytes, nested: { buf: new Uint8Array(1500) } });
  const obj = JSON.parse(lines[0]);
  assert.equal(obj.data, "[8 bytes]");
  assert.equal(obj.nested.buf, "[1500 bytes]");
  const t = capture("info", "text");
  t.log.info("packet", { data: bytes });
  assert.equal(t.lines[0], '2026-11-21T10:00:00.000Z INFO packet data="[8 bytes]"');
  assert.ok(!t.lines[0].includes("222"), "no byte values");
});

Deno.test("child loggers add fields; call-site fields win; parents are unchanged", () => {
  const { log, lines } = capture("info", "json");
  const peer = log.child({ peer: "alice", component: "device" });
  const deeper = peer.child({ transport: "udp" });
  deeper.info("rx", { component: "override" });
  log.info("plain");
  assert.deepEqual(JSON.parse(lines[0]), {
    ts: "2026-11-21T10:00:00.000Z",
    level: "info",
    msg: "rx",
    peer: "alice",
    component: "override",
    transport: "udp",
  });
  assert.deepEqual(Object.keys(JSON.parse(lines[1])), ["ts", "level", "msg"]);
  // Children keep the level of their parent.
  peer.debug("hidden");
  assert.equal(lines.length, 2);
});

Deno.test("special values: errors, bigints, undefined, cycles, class instances", () => {
  const { log, lines } = capture("info", "json");
  const cyclic: Record<string, unknown> = { name: "c" };
  cyclic.self = cyclic;
  class Addr {
    toString() {
      return "192.0.2.1:51820";
    }
  }
  log.info("values", {
    err: new TypeError("boom"),
    big: 2n ** 70n,
    gone: undefined,
    nan: NaN,
    cyclic,
    ep: new Addr(),
    when: new Date("2026-01-02T03:04:05.000Z"),
  });
  const obj = JSON.parse(lines[0]);
  assert.equal(obj.err, "TypeError: boom");
  assert.equal(obj.big, "1180591620717411303424");
  assert.ok(!("gone" in obj));
  assert.equal(obj.nan, "NaN");
  assert.deepEqual(obj.cyclic, { name: "c", self: "[circular]" });
  assert.equal(obj.ep, "192.0.2.1:51820");
  assert.equal(obj.when, "2026-01-02T03:04:05.000Z");
});

Deno.test("parseLogLevel and parseLogFormat accept names and reject others clearly", () => {
  assert.equal(parseLogLevel("debug"), "debug");
  assert.equal(parseLogLevel(" INFO "), "info");
  assert.equal(parseLogLevel("Warning"), "warn");
  assert.equal(parseLogLevel("error"), "error");
  assert.throws(() => parseLogLevel("verbose"), /invalid log level "verbose".*debug, info/);
  assert.throws(() => parseLogLevel(""), /invalid log level ""/);
  assert.equal(parseLogFormat("JSON"), "json");
  assert.equal(parseLogFormat("text"), "text");
  assert.throws(() => parseLogFormat("yaml"), /invalid log format "yaml".*text, json/);
});

Deno.test("createLogger rejects bad options instead of silently logging nothing", () => {
  assert.throws(() => createLogger({ level: "loud" as LogLevel }), /invalid log level/);
  assert.throws(() => createLogger({ format: "xml" as LogFormat }), /invalid log format/);
});

Deno.test("nullLogger discards everything", () => {
  assert.equal(nullLogger.enabled("error"), false);
  nullLogger.error("nothing", { a: 1 });
  assert.equal(nullLogger.child({ a: 1 }), nullLogger);
});

Deno.test("the default sink writes one line per event to stderr", async () => {
  const code = `
    import { createLogger } from ${JSON.stringify(new URL("./logger.ts", import.meta.url).href)};
    const log = createLogger({ level: "debug", format: "json" });
    log.debug("one", { n: 1 });
    log.info("two", { privateKey: "s3cr3t" });
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.equal(new TextDecoder().decode(out.stdout), "");
  const lines = new TextDecoder().decode(out.stderr).trimEnd().split("\n");
  assert.deepEqual(lines.map((l) => JSON.parse(l).msg), ["one", "two"]);
  assert.ok(!lines[1].includes("s3cr3t"));
});
