/**
 * `weft route list|approve|revoke`: routes through members (subnet routers, exit nodes).
 * @module
 */

import type { Command } from "npm:@commander-js/extra-typings@^15.1.0";
import { formatTable } from "../lib/status/mod.ts";
import { localClient } from "./client.ts";
import { UsageError } from "./errors.ts";
import { agentOptions } from "./options.ts";
import { parseApproval } from "./internal_client.ts";

/** The approval argument checked before anything is asked: a prefix, or `exit`. */
function approvalArg(text: string): string {
  try {
    return parseApproval(text);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

const list = (xs: readonly string[]) => xs.length ? xs.join(",") : "-";

/** Adds `weft route list|approve|revoke` to `program`. */
export function addRouteCommands(program: Command): void {
  const routeCmd = program.command("route").description(
    "routes through members: subnet routers and exit nodes",
  );
  agentOptions(
    routeCmd.command("list").description("list the routes nodes advertise, approved and carried")
      .option("--json", "print JSON"),
  ).action(async (opts) => {
    const routes = await (await localClient(opts)).routes();
    if (opts.json) return console.log(JSON.stringify(routes, null, 2));
    const rows = [["NODE", "ADDRESS", "ADVERTISED", "APPROVED", "PRIMARY", "STANDBY", "EXIT"]];
    for (const r of routes) {
      rows.push([
        r.offline ? `${r.name} (offline)` : r.name,
        r.address,
        list(r.advertised),
        list(r.approved),
        list(r.primary),
        list(r.standby),
        r.exitNode ? "yes" : "-",
      ]);
    }
    console.log(formatTable(rows));
  });
  for (const verb of ["approve", "revoke"] as const) {
    agentOptions(
      routeCmd.command(verb).description(
        verb === "approve"
          ? "let a node carry routes it advertises (on the leader)"
          : "withdraw a node's approval for routes (on the leader)",
      )
        .argument("<node>", "the node's name or overlay address")
        .argument("<cidr|exit...>", "prefixes (covering the advertised routes inside) or exit")
        .option(
          "--pre-approve",
          "approve routes the node does not advertise yet (approve only; refused otherwise)",
        ),
    ).action(async (node, routes, opts) => {
      if (opts.preApprove && verb === "revoke") {
        throw new UsageError("--pre-approve goes with route approve");
      }
      const change = {
        [verb]: routes.map(approvalArg),
        ...(opts.preApprove ? { preApprove: true } : {}),
      };
      const m = await (await localClient(opts)).setRoutes(node, change);
      console.log(
        `${m.name} (${m.address}): approved ${list(m.grants?.routes ?? [])}; ` +
          `carries ${list(m.routes ?? [])}${m.exitNode ? "; exit node" : ""}`,
      );
    });
  }
}
