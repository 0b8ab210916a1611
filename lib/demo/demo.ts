/**
 * `weft demo`: a few agents as separate processes on loopback in userspace mode, with keys and
 * configs made up in a temporary folder. It prints the mesh's status and pings across it.
 * @module
 */

import { encodeKey, generatePrivateKey, publicKeyOf } from "../crypto/keys.ts";
import { ControlClient } from "../control/client.ts";
import type { Logger } from "../log/logger.ts";
import { formatStatusTable } from "../status/table.ts";
import { selfCommand } from "./self.ts";

/** Options of a demo mesh. */
export interface DemoOptions {
  /** How many agents. Default 3. */
  nodes?: number;
  /** First UDP port; status servers listen from `basePort + 100`. Default 52820. */
  basePort?: number;
  /** Where progress goes. */
  logger: Logger;
  /** Where the demo writes what it shows. Default: stdout. */
  print?: (line: string) => void;
}

/** A running demo mesh. */
export interface Demo {
  /** The status addresses of the agents. */
  statusAddresses: string[];
  /** The folder holding configs and logs. */
  dir: string;
  /** Stops the agents and removes the folder. */
  stop(): Promise<void>;
}

async function waitHealthy(address: string, child: Deno.ChildProcess, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  let exited = false;
  child.status.then(() => exited = true);
  while (Date.now() < deadline) {
    if (exited) throw new Error(`agent for ${address} exited during start; see its log`);
    try {
      const res = await fetch(`http://${address}/healthz`);
      await res.body?.cancel();
      if (res.ok) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`agent for ${address} did not come up within ${ms} ms`);
}

/** Starts the demo mesh and shows it; call `stop()` to end it. */
export async function runDemo(opts: DemoOptions): Promise<Demo> {
  const n = opts.nodes ?? 3;
  const base = opts.basePort ?? 52820;
  const print = opts.print ?? ((l: string) => console.log(l));
  const dir = await Deno.makeTempDir({ prefix: "weft-demo-" });
  const keys = Array.from({ length: n }, () => generatePrivateKey());
  const nodes = keys.map((k, i) => ({
    name: `demo${i}`,
    privateKey: encodeKey(k),
    publicKey: encodeKey(publicKeyOf(k)),
    address: `10.99.0.${i + 1}`,
    port: base + i,
    status: `127.0.0.1:${base + 100 + i}`,
  }));
  const children: Deno.ChildProcess[] = [];
  const stop = async () => {
    for (const c of children) {
      try {
        c.kill("SIGTERM");
      } catch { /* already gone */ }
    }
    await Promise.allSettled(children.map((c) => c.status));
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    opts.logger.info("demo stopped", {});
  };
  try {
    for (const node of nodes) {
      const peers = nodes.filter((o) => o !== node).map((o) =>
        [
          "[Peer]",
          `PublicKey = ${o.publicKey}`,
          `Endpoint = 127.0.0.1:${o.port}`,
          `AllowedIPs = ${o.address}/32`,
          "",
        ].join("\n")
      );
      const conf = [
        "[Interface]",
        `PrivateKey = ${node.privateKey}`,
        `Address = ${node.address}/24`,
        `ListenPort = ${node.port}`,
        "",
        ...peers,
      ].join("\n");
      const file = `${dir}/${node.name}.conf`;
      await Deno.writeTextFile(file, conf, { mode: 0o600 });
      const log = await Deno.open(`${dir}/${node.name}.log`, { write: true, create: true });
      const [cmd, ...args] = selfCommand();
      const child = new Deno.Command(cmd, {
        args: [...args, "up", file, "--userspace", "--status-listen", node.status],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      child.stderr.pipeTo(log.writable).catch(() => {});
      children.push(child);
    }
    await Promise.all(nodes.map((node, i) => waitHealthy(node.status, children[i], 20_000)));
    opts.logger.info("demo mesh up", { nodes: n, dir });

    for (const node of nodes) {
      const client = new ControlClient(node.status);
      for (const other of nodes) {
        if (other === node) continue;
        const res = await client.ping(other.address, { count: 2, timeoutMs: 2000 });
        const rtts = res.rtts.map((r) => (r === null ? "timeout" : `${r.toFixed(2)} ms`));
        print(
          `ping ${node.name} (${node.address}) -> ${other.name} (${other.address}): ${
            rtts.join(", ")
          }`,
        );
      }
    }
    print("");
    print(`status of ${nodes[0].name} (weft status --status-listen ${nodes[0].status}):`);
    print(formatStatusTable(await new ControlClient(nodes[0].status).status()));
    print("");
    print(`configs and logs: ${dir}`);
  } catch (e) {
    await stop();
    throw e;
  }
  return { statusAddresses: nodes.map((x) => x.status), dir, stop };
}
