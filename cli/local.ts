/**
 * `weft status|ping|send|recv`: the local agent's status, and traffic through it.
 * @module
 */

import type { Command } from "npm:@commander-js/extra-typings@^15.1.0";
import { formatStatusTable } from "../lib/status/mod.ts";
import { intArg } from "./args.ts";
import { localClient } from "./client.ts";
import { pongText } from "./ping_text.ts";
import { agentOptions } from "./options.ts";
import { readStdin } from "./process.ts";

/** Adds `weft status|ping|send|recv` to `program`. */
export function addLocalAgentCommands(program: Command): void {
  agentOptions(
    program.command("status").description("show the local agent's status")
      .option("--json", "print the status document as JSON"),
  ).action(async (opts) => {
    const st = await (await localClient(opts)).status();
    console.log(opts.json ? JSON.stringify(st, null, 2) : formatStatusTable(st));
  });

  agentOptions(
    program.command("ping").description(
      "ping a member (by name) or an overlay address through the local agent, saying the path",
    )
      .argument("<target>", "member name (db, db.<zone>) or overlay IPv4 or IPv6 address")
      .option("-c, --count <n>", "echo requests to send", intArg(1, 100), 3)
      .option("--timeout <ms>", "wait this long for each reply", intArg(1, 60000), 1000),
  ).action(async (target, opts) => {
    const res = await (await localClient(opts)).ping(target, {
      count: opts.count,
      timeoutMs: opts.timeout,
    });
    let ok = 0;
    for (const [i, rtt] of res.rtts.entries()) {
      if (rtt === null) console.log(`seq=${i} timeout`);
      else {
        ok++;
        console.log(`seq=${i} ${pongText(res.address, res.name, res.paths?.[i] ?? null, rtt)}`);
      }
    }
    console.log(`${res.rtts.length} sent, ${ok} received`);
    if (ok === 0) Deno.exitCode = 1;
  });

  agentOptions(
    program.command("send").description("send a UDP datagram through the local agent")
      .argument("<address>", "overlay address")
      .argument("<port>", "UDP port", intArg(1, 65535))
      .argument("[text]", "payload (default: read stdin)")
      .option("--from-port <port>", "source port", intArg(1, 65535)),
  ).action(async (address, port, text, opts) => {
    const payload = new TextEncoder().encode(text ?? await readStdin(65_535, "a datagram"));
    await (await localClient(opts)).send(address, port, payload, opts.fromPort);
  });

  agentOptions(
    program.command("recv").description("print UDP datagrams the local agent receives on a port")
      .argument("<port>", "UDP port", intArg(1, 65535))
      .option("-n, --count <n>", "stop after this many", intArg(1, 1_000_000)),
  ).action(async (port, opts) => {
    const client = await localClient(opts);
    const dec = new TextDecoder();
    // Said on stderr, so that a script knows when to start sending; stdout stays data only.
    const onReady = () => console.error(`listening on port ${port}`);
    for await (const d of client.recv(port, { count: opts.count, onReady })) {
      console.log(`${d.address}:${d.port} ${dec.decode(d.data)}`);
    }
  });
}
