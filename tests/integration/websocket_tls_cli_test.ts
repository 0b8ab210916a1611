/**
 * The WebSocket transport through the real CLI on loopback: a leader started as always serves
 * plain WebSockets on its TCP port with no flag, and with `--ws-tls-cert`/`--ws-tls-key`/
 * `--ws-tls-port` serves `wss` on that port with the certificate given (a private CA's, made
 * here): a client that trusts the CA upgrades, one that does not is refused, and the leader's
 * /metrics count both. Bad combinations of the flags are usage errors (exit 2).
 */
import assert from "node:assert/strict";
import { freePort, weft } from "../fixtures/procs.ts";
import { eventually, HANG_GUARD_MS } from "../fixtures/netns.ts";
import { loopbackArgs, spawnWeft, untilServing } from "../fixtures/weft_agent.ts";
import { TcpTransport } from "../../drivers/tcp.ts";
import { CollectSink } from "../../drivers/testing/collect_sink.ts";
import { makeCerts } from "../../drivers/testing/certs.ts";

/** A series' value in a metrics text (labels given exactly as printed); 0 when absent. */
function metric(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

/** Dials `to` once from a transport that only dials; how the dial ended. */
async function dialOnce(to: string, caCerts?: string[]): Promise<string> {
  const outcomes: string[] = [];
  const t = await TcpTransport.open({
    port: 0,
    listen: false,
    ...(caCerts ? { caCerts } : {}),
    onDial: (_to, o) => outcomes.push(o),
    onError: () => {},
  });
  try {
    t.start(new CollectSink());
    // Any frame dials; the leader's device drops one that is no WireGuard message.
    t.send(new Uint8Array([0xff]), t.endpoint(to));
    t.flush();
    assert.ok(await eventually(() => Promise.resolve(outcomes.length > 0), HANG_GUARD_MS));
    return outcomes[0];
  } finally {
    await t.close();
  }
}

Deno.test({
  name: "weft --leader serves ws on its TCP port, and wss with --ws-tls-cert on --ws-tls-port",
  sanitizeOps: false,
  sanitizeResources: false,
  ignore: !(await new Deno.Command("openssl", { args: ["version"], stdout: "null" }).output()
    .then((o) => o.success, () => false)),
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-wss-cli-" });
    const { ca, cert, key } = await makeCerts(dir);
    await Deno.writeTextFile(`${dir}/cert.pem`, cert);
    await Deno.writeTextFile(`${dir}/key.pem`, key);
    const port = freePort();
    const tlsPort = freePort("tcp");
    const leader = spawnWeft([
      "--leader",
      ...loopbackArgs(`${dir}/leader`, "boss", port),
      "--ws-tls-cert",
      `${dir}/cert.pem`,
      "--ws-tls-key",
      `${dir}/key.pem`,
      "--ws-tls-port",
      String(tlsPort),
    ]);
    try {
      await untilServing(leader);
      assert.equal(await dialOnce(`ws://127.0.0.1:${port}`), "connected", leader.log());
      assert.equal(await dialOnce(`wss://127.0.0.1:${tlsPort}`, [ca]), "connected", leader.log());
      // The system's CAs do not know this one: refused before any WebSocket.
      assert.equal(await dialOnce(`wss://127.0.0.1:${tlsPort}`), "failed");
      const metrics = async () => {
        const r = await fetch(`http://${leader.status}/metrics`);
        return await r.text();
      };
      let text = "";
      assert.ok(
        await eventually(async () => {
          text = await metrics();
          return metric(text, 'weft_websocket_handshakes_total{result="refused"}') >= 1;
        }, HANG_GUARD_MS),
        text,
      );
      assert.equal(metric(text, 'weft_websocket_handshakes_total{result="upgraded"}'), 2, text);
      assert.doesNotMatch(
        leader.log(),
        /UnknownCA|InvalidData/,
        "a bad client is counted, not logged",
      );
    } finally {
      leader.child.kill("SIGTERM");
      await leader.child.status;
    }

    // The flags' combinations, checked before anything starts.
    const bad = async (args: string[], why: RegExp) => {
      const r = await weft(["--leader", ...loopbackArgs(`${dir}/bad`, "bad"), ...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, why);
    };
    await bad(["--ws-tls-cert", `${dir}/cert.pem`], /ws-tls-cert and ws-tls-key go together/);
    await bad(["--ws-tls-port", "8443"], /--ws-tls-port needs ws-tls-cert and ws-tls-key/);
    await bad(
      ["--ws-tls-cert", `${dir}/cert.pem`, "--ws-tls-key", `${dir}/key.pem`, "--tcp-port", "0"],
      /needs the TCP transport/,
    );
    await bad(
      ["--ws-tls-cert", `${dir}/nope.pem`, "--ws-tls-key", `${dir}/key.pem`],
      /--ws-tls-cert: cannot read/,
    );
    await Deno.remove(dir, { recursive: true });
  },
});
