/**
 * The active peers of the member scale bench (member_scale.ts), in one process of their own:
 * `--count` mesh agents (mod.ts's `MeshAgent`, userspace, each on a real UDP socket at its own
 * loopback address `127.0.1.<i+1>`, joined with `--token`) that each ping the measured member
 * (`--target`, its overlay address) once a second, staggered.
 *
 * These peers are the load around the member, not what is measured: health probes, path probes
 * and keepalives are off (with them, each of the 20 would probe every member it knows, 20 times
 * the member's own work in a mesh of 10,000). Their pings are what makes them active.
 *
 * It prints JSON lines on stdout: `{"kind":"joined"}` once every agent has joined,
 * `{"kind":"active"}` once each has had a ping answered, and `{"kind":"stats","sent":n,
 * "answered":n}` for each `stats` line read on stdin. stdin closing (or SIGTERM) closes the
 * agents and ends the process.
 *
 *   deno run -A --unstable-net scripts/bench/member_scale_peers.ts --token T --count 20 \
 *     --target 10.213.0.3 --port 40000 --state-dir DIR
 * @module
 */

import { MeshAgent } from "../../lib/mesh/mesh_agent.ts";
import { DenoUdpTransport } from "../../drivers/udp_deno.ts";
import { nullLogger } from "../../lib/log/logger.ts";

/** The loopback address of active peer `i` (0-based): 127.0.1.1 and up. */
export function activePeerHost(i: number): string {
  return `127.0.${1 + (i >> 8)}.${(i & 255) + 1}`;
}

/** How long each ping waits for its answer: below the one-second round. */
const PING_WAIT_MS = 900;

function flag(name: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  const v = i >= 0 ? Deno.args[i + 1] : undefined;
  if (v === undefined) throw new Error(`member_scale_peers: --${name} is required`);
  return v;
}

function say(o: Record<string, unknown>): void {
  console.log(JSON.stringify(o));
}

async function main(): Promise<void> {
  const token = flag("token");
  const count = Number(flag("count"));
  const target = flag("target");
  const port = Number(flag("port"));
  const dir = flag("state-dir");
  const agents: MeshAgent[] = [];
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await Promise.allSettled(agents.map((a) => a.close()));
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", () => void stop());

  // A few joins at a time: each is a DH on the leader, and the member measured is starting too.
  for (let i = 0; i < count; i += 5) {
    const started = await Promise.all(
      Array.from({ length: Math.min(5, count - i) }, (_, j) => {
        const host = activePeerHost(i + j);
        return MeshAgent.start({
          role: "node",
          token,
          // A leader busy with many members answers late: the bench's guard says when it hangs.
          joinTimeoutMs: 300_000,
          stateDir: `${dir}/active${i + j}`,
          hostname: `active${i + j}`,
          userspace: true,
          listenPort: port,
          advertise: [`${host}:${port}`],
          persistentKeepalive: 0,
          dnsPort: 0,
          probes: false,
          natTraversal: false,
          logger: nullLogger,
          openTransport: (p) => DenoUdpTransport.open({ port: p, hostname: host }),
        });
      }),
    );
    agents.push(...started);
    if (stopping) return;
  }
  say({ kind: "joined", count: agents.length });

  let sent = 0;
  let answered = 0;
  const answeredBy = new Set<number>();
  agents.forEach((a, i) => {
    const round = async () => {
      while (!stopping) {
        const t = Date.now();
        const r = await a.agent.ping(target, { timeoutMs: PING_WAIT_MS }).catch(() => null);
        // Counted once done, with its answer: a stats line never sees one without the other.
        sent++;
        if (r?.rtts[0] != null) {
          answered++;
          if (!answeredBy.has(i)) {
            answeredBy.add(i);
            if (answeredBy.size === agents.length) say({ kind: "active" });
          }
        }
        await new Promise((res) => setTimeout(res, Math.max(0, 1000 - (Date.now() - t))));
      }
    };
    // Staggered over the second, so the member sees a ping every 1/count s, not a burst.
    setTimeout(() => void round(), Math.floor((i * 1000) / agents.length));
  });

  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  let buf = "";
  for await (const chunk of lines) {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line === "stats") say({ kind: "stats", sent, answered });
    }
  }
  await stop();
}

if (import.meta.main) {
  main().catch((e) => {
    console.error(`member_scale_peers: ${e instanceof Error ? e.stack : String(e)}`);
    Deno.exit(1);
  });
}
