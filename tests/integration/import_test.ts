/**
 * weft imported from outside the repository, as from JSR or by path: a program in a fresh folder
 * with no deno.json (so no import map and no lock of weft's) imports `mod.ts` by absolute path and
 * by file:// URL and every entry of deno.json's `exports`, then runs two agents through the public
 * API that ping each other and pass a datagram over loopback.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** The program: plain TypeScript a user would write, with weft's location filled in. */
function program(modPath: string, entries: Record<string, string>): string {
  return `
import { Agent, createLogger, generateKeyPair, VERSION } from ${JSON.stringify(modPath)};
import * as byUrl from ${JSON.stringify(pathToFileURL(modPath).href)};

const entries: Record<string, string> = ${JSON.stringify(entries)};
for (const [name, url] of Object.entries(entries)) {
  const m = await import(url);
  console.log(\`entry \${name}: \${Object.keys(m).length} exports\`);
}
console.log(\`same module by path and URL: \${byUrl.Agent === Agent}\`);
console.log(\`version \${VERSION}\`);

const logger = createLogger({ level: "error" });
const a = generateKeyPair(), b = generateKeyPair();
const start = (key: string, address: string) =>
  Agent.start({
    privateKey: key, addresses: [address + "/24"], listenPort: 0, listenHost: "127.0.0.1",
    mode: "userspace", logger,
  });
const agentA = await start(a.privateKey, "10.79.0.1");
const agentB = await start(b.privateKey, "10.79.0.2");
agentA.device.setPeer({
  publicKey: b.publicKey, endpoint: "127.0.0.1:" + agentB.device.listenPort,
  allowedIps: ["10.79.0.2/32"],
});
agentB.device.setPeer({
  publicKey: a.publicKey, endpoint: "127.0.0.1:" + agentA.device.listenPort,
  allowedIps: ["10.79.0.1/32"],
});
const got = new Promise<string>((resolve) =>
  agentB.listen(7000, (d) => resolve(new TextDecoder().decode(d.data)))
);
// The first echo waits for the handshake: a guard (the hang guard), not a bound.
const ping = await agentA.ping("10.79.0.2", { count: 1, timeoutMs: 60_000 });
console.log(\`ping answered: \${ping.rtts[0] !== null}\`);
agentA.send("10.79.0.2", 7000, new TextEncoder().encode("hello from outside"));
console.log(\`got: \${await got}\`);
await Promise.all([agentA.close(), agentB.close()]);
`;
}

Deno.test("mod.ts and every exported entry import from a folder with no deno.json", async () => {
  const cfg = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`)) as {
    version: string;
    exports: Record<string, string>;
  };
  const entries = Object.fromEntries(
    Object.entries(cfg.exports).map(([k, v]) => [k, new URL(v, pathToFileURL(ROOT)).href]),
  );
  const dir = await Deno.makeTempDir({ prefix: "weft-import-" });
  try {
    // Nothing in the folder or above it may configure deno: the point is a folder with none.
    for (let d = dir;; d = dirname(d)) {
      for (const f of ["deno.json", "deno.jsonc", "package.json"]) {
        await assert.rejects(Deno.stat(join(d, f)), Deno.errors.NotFound, `${join(d, f)} exists`);
      }
      if (d === dirname(d)) break;
    }
    await Deno.writeTextFile(`${dir}/main.ts`, program(`${ROOT}mod.ts`, entries));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "main.ts"],
      cwd: dir,
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    const stdout = dec.decode(out.stdout);
    assert.ok(out.success, stdout + dec.decode(out.stderr));
    for (const name of Object.keys(entries)) {
      const line = stdout.split("\n").find((l) => l.startsWith(`entry ${name}: `));
      assert.match(line ?? "", /: [1-9]\d* exports$/, `entry ${name} imported: ${stdout}`);
    }
    assert.match(stdout, /^same module by path and URL: true$/m);
    assert.match(stdout, new RegExp(`^version ${cfg.version.replaceAll(".", "\\.")}$`, "m"));
    assert.match(stdout, /^ping answered: true$/m);
    assert.match(stdout, /^got: hello from outside$/m);
    // deno wrote no configuration or lock of its own into the user's folder.
    const files = [];
    for await (const e of Deno.readDir(dir)) files.push(e.name);
    assert.deepEqual(files, ["main.ts"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
