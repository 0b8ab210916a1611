/**
 * `weft node list|set|remove|free-name`: the mesh's nodes.
 * @module
 */

import type { Command } from "npm:@commander-js/extra-typings@^15.1.0";
import { formatTable } from "../lib/status/mod.ts";
import { collect, labelFlags } from "./args.ts";
import { labelsText, localClient } from "./client.ts";
import { UsageError } from "./errors.ts";
import { agentOptions } from "./options.ts";

/** How old a node list's view is, for people: `420 ms`, `1.2 s`. */
function viewAgeText(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** Adds `weft node list|set|remove|free-name` to `program`. */
export function addNodeCommands(program: Command): void {
  const nodeCmd = program.command("node").description("the mesh's nodes");
  agentOptions(
    nodeCmd.command("list").description("list the nodes this agent knows")
      .option("--json", "print JSON"),
  ).action(async (opts) => {
    const res = await (await localClient(opts)).nodes();
    if (opts.json) return console.log(JSON.stringify(res, null, 2));
    // Granted labels (token, operator) apart from what each node says of itself (untrusted).
    const rows = [["NAME", "ADDRESS", "ROLE", "ENDPOINT", "LABELS", "SELF-ASSERTED"]];
    for (const n of res.nodes) {
      rows.push([
        n.name,
        n.address,
        // A node stopped on purpose stays a member, offline until it says hello again.
        n.offline ? `${n.role} (offline)` : n.role,
        n.endpoints[0] ?? "-",
        labelsText(n.labels),
        labelsText(n.nodeLabels),
      ]);
    }
    console.log(formatTable(rows));
    // A leader serves a large list up to a second behind its view while members come and go:
    // said apart from the table (stdout stays the list), and only when it is behind.
    if (res.viewAgeMs > 0) console.error(`(view ${viewAgeText(res.viewAgeMs)} old)`);
  });
  agentOptions(
    nodeCmd.command("set")
      .description("change what a node was granted: relaying, labels (on the leader)")
      .argument("<name|ip>", "the node's name or overlay address")
      .option("--relay", "the node may relay for others (it relays when started with --relay)")
      .option("--no-relay", "the node may not relay for others")
      .option("--label <k=v>", "grant a label, or change its value (repeatable)", collect)
      .option("--remove-label <key>", "withdraw a granted label (repeatable)", collect),
  ).action(async (id, opts) => {
    const labels = labelFlags(opts.label);
    const remove = opts.removeLabel ?? [];
    if (opts.relay === undefined && !Object.keys(labels).length && !remove.length) {
      throw new UsageError("say --relay, --no-relay, --label k=v or --remove-label k");
    }
    const m = await (await localClient(opts)).setNode(id, {
      ...(opts.relay !== undefined ? { relay: opts.relay } : {}),
      ...(Object.keys(labels).length ? { labels } : {}),
      ...(remove.length ? { removeLabels: remove } : {}),
    });
    console.log(
      `${m.name} (${m.address}): ${m.grants?.relay ? "may relay" : "may not relay"}, labels ${
        labelsText(m.labels) || "none"
      }`,
    );
  });
  agentOptions(
    nodeCmd.command("remove").description("remove a node from the mesh (on the leader)")
      .argument("<name|ip>", "the node's name or overlay address"),
  ).action(async (id, opts) => {
    const m = await (await localClient(opts)).removeNode(id);
    console.log(`removed ${m.name} (${m.address})`);
  });
  agentOptions(
    nodeCmd.command("free-name")
      .description(
        "let another joiner have a removed node's name before its grace period ends (on the " +
          "leader)",
      )
      .argument("<name>", "the removed node's name"),
  ).action(async (name, opts) => {
    await (await localClient(opts)).freeName(name);
    console.log(`freed ${name}`);
  });
}
