/**
 * Crypto workers end to end: `weft up --crypto-workers 1` in two namespaces, TUN mode, the real
 * data path (UDP with GSO/GRO, TUN with offloads) with every batch sealed and opened on a worker:
 * pings both ways (small and full-MTU), an iperf3 TCP transfer, and no crypto error counted. Then
 * the same weft against wireguard-go, which must read what the workers seal and the other way.
 */
import assert from "node:assert/strict";
import { canBuildLabs, eventually, HANG_GUARD_MS, haveCommands, Lab } from "../fixtures/netns.ts";
import {
  iperf,
  type LabNode,
  type LabNodeSpec,
  reaches,
  startWeft,
  startWireguardGo,
} from "../fixtures/wg_lab.ts";
import { generateKeyPair } from "../../lib/crypto/keys.ts";
import { loadSodium } from "../../lib/crypto/sodium.ts";

const ignore = !loadSodium() || !(await canBuildLabs()) ||
  !(await haveCommands("wg", "iperf3", "ping", "ss", "curl"));
const WORKERS = ["--crypto-workers", "1"];
/** Where `weft up` serves /status in its namespace (its default). */
const STATUS = "http://127.0.0.1:51880/status";

/** Two hosts a (10.78.0.1) and b (10.78.0.2), each a peer of the other. */
function specs(lab: Lab): [LabNodeSpec, LabNodeSpec] {
  const ka = generateKeyPair();
  const kb = generateKeyPair();
  const spec = (host: string, i: number, me: typeof ka, them: typeof kb): LabNodeSpec => ({
    host,
    iface: `cw${host}${lab.tag}`,
    privateKey: me.privateKey,
    address: `10.78.0.${i}/24`,
    port: 51820,
    peers: [{
      publicKey: them.publicKey,
      endpoint: `192.0.2.${3 - i}:51820`,
      allowedIps: [`10.78.0.${3 - i}/32`],
    }],
  });
  return [spec("a", 1, ka, kb), spec("b", 2, kb, ka)];
}

/**
 * Checks a weft: its workers started and none failed (the log), batches were split with the
 * workers and they sealed or opened messages, and no message was lost to a crypto error
 * (`/status`).
 */
async function assertWorkersRan(lab: Lab, node: LabNode): Promise<void> {
  const log = node.output();
  assert.match(log, /crypto workers started/, log);
  assert.doesNotMatch(log, /crypto workers (failed|did not start)|crypto backend failed/, log);
  const r = await lab.exec(node.spec.host, "curl", "-s", "--max-time", "5", STATUS);
  assert.equal(r.code, 0, r.stderr);
  const { node: status } = JSON.parse(r.stdout);
  const cw = status.cryptoWorkers;
  assert.equal(cw.workers, 1);
  assert.equal(cw.failure, null);
  assert.ok(cw.parallelBatches > 0 && cw.onWorkers > 0, JSON.stringify(cw));
  assert.equal(status.drops["crypto-error"], 0);
}

async function withLab(body: (lab: Lab, dir: string) => Promise<void>): Promise<void> {
  const lab = await Lab.create(["a", "b"]);
  const dir = await Deno.makeTempDir({ prefix: "weft-e2e-cw-" });
  try {
    await body(lab, dir);
  } finally {
    await lab.destroy();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "crypto workers: two wefts with --crypto-workers 1 carry pings and iperf3 TCP",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withLab(async (lab, dir) => {
      const [sa, sb] = specs(lab);
      const a = await startWeft(lab, dir, sa, WORKERS);
      const b = await startWeft(lab, dir, sb, WORKERS);
      // The first session is set-up: waited for (a loaded machine may need more than a few seconds).
      assert.ok(await reaches(lab, "a", "10.78.0.2"), "a -> b");
      assert.ok(await reaches(lab, "b", "10.78.0.1"), "b -> a");
      // Full-MTU packets: 1420 − 20 (IPv4) − 8 (ICMP); one answered is the proof, waited for.
      const big = () => lab.exec("a", "ping", "-c", "1", "-W", "3", "-s", "1392", "10.78.0.2");
      assert.ok(
        await eventually(async () => (await big()).code === 0, HANG_GUARD_MS),
        (await big()).stdout,
      );
      const bps = await iperf(lab, "b", "a", "10.78.0.2", 2);
      assert.ok(bps > 0, `iperf3 ${bps} bit/s`);
      await assertWorkersRan(lab, a);
      await assertWorkersRan(lab, b);
    }),
});

Deno.test({
  name: "crypto workers: weft with --crypto-workers 1 and wireguard-go read each other",
  ignore: ignore || !(await haveCommands("wireguard-go")),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withLab(async (lab, dir) => {
      const [sa, sb] = specs(lab);
      const a = await startWeft(lab, dir, sa, WORKERS);
      await startWireguardGo(lab, dir, sb);
      assert.ok(await reaches(lab, "a", "10.78.0.2"), "weft -> wireguard-go");
      assert.ok(await reaches(lab, "b", "10.78.0.1"), "wireguard-go -> weft");
      // Both directions of TCP: weft seals the data one way and opens it the other.
      assert.ok((await iperf(lab, "b", "a", "10.78.0.2", 2)) > 0, "weft sends");
      assert.ok((await iperf(lab, "a", "b", "10.78.0.1", 2)) > 0, "weft receives");
      await assertWorkersRan(lab, a);
    }),
});
