/**
 * `weft_dns_queries_total` as a user reads it: real queries to a running leader (the CLI, in
 * userspace mode) with dig and a raw UDP client, of several types and answer codes; the scraped
 * series then add up to exactly the queries answered, one series per (type, rcode) pair.
 */
import assert from "node:assert/strict";
import { freePort, HOST_AGENT_FLAGS } from "../fixtures/procs.ts";
import { selfCommand } from "../../lib/demo/self.ts";
import { buildQuery, DnsType } from "../../lib/dns/wire.ts";
import { parsePrometheus, promtoolCheck } from "../fixtures/prom_parse.ts";

async function have(cmd: string, args: string[]): Promise<boolean> {
  try {
    return (await new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

const DIG = await have("dig", ["-v"]);
const PROMTOOL = await have("promtool", ["--version"]);

/** Starts `weft --leader` and resolves once it logs that its status server listens. */
async function startLeader(dir: string, dnsPort: number, status: string) {
  const [cmd, ...pre] = selfCommand();
  const child = new Deno.Command(cmd, {
    args: [
      ...pre,
      "--leader",
      "--userspace",
      ...HOST_AGENT_FLAGS,
      "--hostname",
      "boss",
      "--state-dir",
      dir,
      "--listen-port",
      String(freePort()),
      "--dns-port",
      String(dnsPort),
      "--status-listen",
      status,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const dec = new TextDecoder();
  const ready = new Promise<void>((resolve, reject) => {
    child.stderr.pipeTo(
      new WritableStream({
        write: (c) => {
          log += dec.decode(c);
          if (log.includes("status listening")) resolve();
        },
      }),
    ).catch(() => {});
    child.status.then((s) => reject(new Error(`leader exited (${s.code}):\n${log}`)));
  });
  await ready;
  return { child, log: () => log };
}

/** Sends one datagram to the DNS port and waits for the answer's rcode (low 4 bits of byte 3). */
async function rawQuery(port: number, bytes: Uint8Array): Promise<number> {
  const sock = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    await sock.send(bytes, { transport: "udp", hostname: "127.0.0.1", port });
    const [answer] = await sock.receive();
    return answer[3] & 0x0f;
  } finally {
    sock.close();
  }
}

async function dig(port: number, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("dig", {
    args: ["@127.0.0.1", "-p", String(port), "+tries=1", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const status = /status: ([A-Z]+)/.exec(text)?.[1];
  if (!status) throw new Error(`dig ${args.join(" ")}: no answer\n${text}`);
  return status;
}

Deno.test({
  name: "metrics: weft_dns_queries_total sums to the queries answered, one series per pair",
  ignore: !DIG,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-dnsm-" });
    const dnsPort = freePort();
    const status = `127.0.0.1:${freePort("tcp")}`;
    const leader = await startLeader(dir, dnsPort, status);
    try {
      // [dig arguments, the status dig must print, the series it lands in]
      const cases: [string[], string, string][] = [
        [["boss.overlay.local", "A"], "NOERROR", "A|NOERROR"],
        [["boss.overlay.local", "A", "+tcp"], "NOERROR", "A|NOERROR"],
        [["nobody.overlay.local", "A"], "NXDOMAIN", "A|NXDOMAIN"],
        [["nobody.overlay.local", "AAAA"], "NXDOMAIN", "AAAA|NXDOMAIN"],
        [["boss.overlay.local", "AAAA"], "NOERROR", "AAAA|NOERROR"],
        [["overlay.local", "SOA"], "NOERROR", "SOA|NOERROR"],
        [["example.com", "A"], "REFUSED", "A|REFUSED"],
        [["example.com", "MX"], "REFUSED", "MX|REFUSED"],
        [["boss.overlay.local", "TYPE65280"], "NOERROR", "OTHER|NOERROR"],
      ];
      const expected = new Map<string, number>();
      const add = (key: string) => expected.set(key, (expected.get(key) ?? 0) + 1);
      for (const [args, want, key] of cases) {
        assert.equal(await dig(dnsPort, ...args), want, args.join(" "));
        add(key);
      }
      // What dig cannot send: a body that does not decode (FORMERR, no question to type it by)
      // and a STATUS opcode (NOTIMP, its one question echoed).
      const q = buildQuery(41, "boss.overlay.local", DnsType.A);
      assert.equal(await rawQuery(dnsPort, q.subarray(0, q.length - 2)), 1);
      add("NONE|FORMERR");
      const st = buildQuery(42, "overlay.local", DnsType.SOA);
      st[2] |= 2 << 3;
      assert.equal(await rawQuery(dnsPort, st), 4);
      add("SOA|NOTIMP");
      const sent = cases.length + 2;

      const res = await fetch(`http://${status}/metrics`);
      const text = await res.text();
      if (PROMTOOL) {
        const check = await promtoolCheck(text);
        assert.equal(check.code, 0, check.out);
      }
      const series = parsePrometheus(text).samples.filter((s) =>
        s.name === "weft_dns_queries_total"
      );
      const total = series.reduce((n, s) => n + s.value, 0);
      assert.equal(total, sent, text);
      const got = new Map(series.map((s) => [`${s.labels.type}|${s.labels.rcode}`, s.value]));
      assert.deepEqual(got, expected);
      for (const s of series) {
        assert.notEqual(s.labels.type, "ALL");
        assert.notEqual(s.labels.rcode, "ALL");
      }
    } finally {
      leader.child.kill("SIGTERM");
      await leader.child.status;
      await Deno.remove(dir, { recursive: true });
    }
  },
});
