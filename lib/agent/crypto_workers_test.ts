import assert from "node:assert/strict";
import { createLogger } from "../log/logger.ts";
import { loadSodium } from "../crypto/sodium.ts";
import { CryptoBatch } from "../device/crypto_batch.ts";
import {
  AUTO_CRYPTO_WORKERS,
  checkCryptoWorkers,
  resolveCryptoWorkers,
  startCryptoWorkers,
} from "./crypto_workers.ts";

function recordingLogger() {
  const lines: string[] = [];
  return { lines, logger: createLogger({ format: "json", sink: (l) => lines.push(l) }) };
}

Deno.test("crypto workers: counts are checked, and only libsodium takes workers", () => {
  checkCryptoWorkers(0, "noble");
  checkCryptoWorkers(2, "sodium");
  assert.throws(() => checkCryptoWorkers(-1, "sodium"), /0 to 64, got -1/);
  assert.throws(() => checkCryptoWorkers(65, "sodium"), /0 to 64, got 65/);
  assert.throws(() => checkCryptoWorkers(1.5, "sodium"), /0 to 64/);
  assert.throws(() => checkCryptoWorkers(1, "noble"), /need the sodium backend .* uses noble/);
});

Deno.test("crypto workers: auto is 2 with a TUN, libsodium and 4 cores; a number is kept", () => {
  const tun = { tun: true, aead: "sodium", cores: 4 };
  assert.equal(resolveCryptoWorkers("auto", tun), AUTO_CRYPTO_WORKERS);
  assert.equal(AUTO_CRYPTO_WORKERS, 2);
  assert.equal(resolveCryptoWorkers("auto", { ...tun, cores: 16 }), 2);
  assert.equal(resolveCryptoWorkers("auto", { ...tun, cores: 3 }), 0);
  assert.equal(resolveCryptoWorkers("auto", { ...tun, cores: 2 }), 0);
  assert.equal(resolveCryptoWorkers("auto", { ...tun, tun: false }), 0);
  assert.equal(resolveCryptoWorkers("auto", { ...tun, aead: "noble" }), 0);
  assert.equal(resolveCryptoWorkers("auto", { ...tun, cores: 1 }), 0);
  assert.equal(resolveCryptoWorkers(0, tun), 0);
  assert.equal(resolveCryptoWorkers(3, { ...tun, tun: false }), 3);
  assert.throws(() => resolveCryptoWorkers(1, { ...tun, aead: "node" }), /sodium backend/);
});

Deno.test("crypto workers: none asked, none started", async () => {
  const { lines, logger } = recordingLogger();
  assert.equal(await startCryptoWorkers(0, 1420, logger), null);
  assert.deepEqual(lines, []);
});

Deno.test({
  name:
    "crypto workers: started and logged; a pool auto chose that cannot start is logged, one asked for is fatal",
  ignore: !loadSodium(),
  async fn() {
    const { lines, logger } = recordingLogger();
    const batch = await startCryptoWorkers(1, 1420, logger);
    assert.ok(batch instanceof CryptoBatch);
    batch.close();
    assert.match(lines[0], /"crypto workers started".*"workers":1/);
    const noThreads = () => {
      throw new Error("no threads here");
    };
    const failed = await startCryptoWorkers(1, 1420, logger, false, noThreads);
    assert.equal(failed, null);
    assert.match(lines[1], /"level":"error".*crypto workers did not start.*no threads here/);
    await assert.rejects(
      () => startCryptoWorkers(2, 1420, logger, true, noThreads),
      /2 crypto workers could not start: no threads here/,
    );
    assert.equal(lines.length, 2);
  },
});
