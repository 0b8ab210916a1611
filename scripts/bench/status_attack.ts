/**
 * The status server under attack, for the figures in a report (not part of `deno task bench`):
 * a server in a child process under a hard limit of `--nofile` descriptors (default 1024); then
 * 1. connections held: opens idle sockets in steps and says, after each, how many descriptors
 *    the server holds and whether it still answers /healthz and is alive;
 * 2. big bodies: its RSS before and after an authenticated 100 MB POST, and how long a 10 MB
 *    body of `[` keeps a concurrent /healthz waiting.
 *
 *   deno run -A --unstable-net scripts/bench/status_attack.ts [--nofile 1024] [--max 4000]
 * @module
 */

const TOKEN = "bench-token";

if (Deno.args[0] === "--child") {
  const { Agent } = await import("../../lib/agent/agent.ts");
  const { serveControl } = await import("../../lib/control/server.ts");
  const { generateKeyPair } = await import("../../lib/crypto/keys.ts");
  const { nullLogger } = await import("../../lib/log/logger.ts");
  const agent = await Agent.start({
    privateKey: generateKeyPair().privateKey,
    addresses: ["10.95.0.1/24"],
    listenPort: 0,
    logger: nullLogger,
  });
  const server = serveControl(agent, { listen: "127.0.0.1:0", token: TOKEN });
  console.log(server.address);
  setInterval(() => {}, 60_000);
} else {
  const arg = (name: string, dflt: number) => {
    const i = Deno.args.indexOf(name);
    return i >= 0 ? Number(Deno.args[i + 1]) : dflt;
  };
  const nofile = arg("--nofile", 1024);
  const max = arg("--max", 4000);
  const child = new Deno.Command("prlimit", {
    args: [
      `--nofile=${nofile}:${nofile}`,
      "--",
      Deno.execPath(),
      "run",
      "-A",
      "--unstable-net",
      new URL(import.meta.url).pathname,
      "--child",
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let alive = true;
  child.status.then(() => (alive = false));
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("\n")) out += (await reader.read()).value ?? "";
  const address = out.trim();
  const [hostname, port] = address.split(":");
  const pid = child.pid;
  const fds = () => {
    try {
      return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
    } catch {
      return NaN;
    }
  };
  const rss = async () => {
    // prlimit execs deno, so the child's pid is the server's.
    const st = await Deno.readTextFile(`/proc/${pid}/status`).catch(() => "");
    return Number(/VmRSS:\s+(\d+)/.exec(st)?.[1] ?? NaN) / 1024;
  };
  const health = async () => {
    const t = performance.now();
    try {
      const r = await fetch(`http://${address}/healthz`, { signal: AbortSignal.timeout(5000) });
      await r.body?.cancel();
      return r.ok ? `${(performance.now() - t).toFixed(0)} ms` : `HTTP ${r.status}`;
    } catch (e) {
      return `failed (${(e as Error).name})`;
    }
  };

  console.log(`## held connections (server under --nofile=${nofile}:${nofile})`);
  const held: Deno.Conn[] = [];
  const rows = [];
  for (let step = 500; step <= max && alive; step += 500) {
    while (held.length < step) {
      try {
        held.push(await Deno.connect({ hostname, port: Number(port) }));
      } catch {
        break;
      }
    }
    await new Promise((r) => setTimeout(r, 300));
    rows.push({ opened: held.length, serverFds: fds(), healthz: await health(), alive });
  }
  console.table(rows);
  for (const c of held) c.close();
  await new Promise((r) => setTimeout(r, 500));

  if (alive) {
    console.log("## big bodies (authenticated)");
    const before = await rss();
    const big = new Uint8Array(100 << 20).fill(0x20);
    const t0 = performance.now();
    const r1 = await fetch(`http://${address}/v1/ping`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: big,
    }).then((r) => r.status, (e) => String(e));
    const after = await rss();
    const deep = new Uint8Array(10 << 20).fill(0x5b);
    const post = fetch(`http://${address}/v1/ping`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: deep,
    }).then((r) => r.status, (e) => String(e));
    const h = await health();
    const r2 = await post;
    console.table([
      {
        body: "100 MB spaces",
        status: r1,
        rssBeforeMB: before.toFixed(0),
        rssAfterMB: after.toFixed(0),
        ms: (performance.now() - t0).toFixed(0),
      },
      { body: "10 MB of [", status: r2, healthzMeanwhile: h, rssAfterMB: (await rss()).toFixed(0) },
    ]);
  }
  try {
    child.kill("SIGKILL");
  } catch { /* gone */ }
  await child.status;
}
