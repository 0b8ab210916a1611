import assert from "node:assert/strict";
import { MAX_PEM_BYTES, readPemFlag } from "./pem.ts";
import { UsageError } from "./errors.ts";

Deno.test("pem flag: read when named, nothing when not, a usage error naming the flag", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/ca.pem`, "-----BEGIN CERTIFICATE-----\n");
    assert.equal(await readPemFlag("--ws-ca", `${dir}/ca.pem`), "-----BEGIN CERTIFICATE-----\n");
    assert.equal(await readPemFlag("--ws-ca", undefined), undefined);
    await assert.rejects(
      () => readPemFlag("--store-ca", `${dir}/missing.pem`),
      (e) =>
        e instanceof UsageError &&
        e.message.startsWith(`--store-ca: cannot read ${dir}/missing.pem: `),
    );
    await Deno.writeTextFile(`${dir}/big.pem`, "x".repeat(MAX_PEM_BYTES + 1));
    await assert.rejects(() => readPemFlag("--ws-tls-key", `${dir}/big.pem`), UsageError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
