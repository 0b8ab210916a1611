/**
 * `weft set`: changes what this node asserts at runtime (as `tailscale set`), through the local
 * agent's socket: its own labels (`node.weft/`), the services it offers, the routes it advertises,
 * whether it offers itself as an exit node, and the exit node it uses. Only the flags given
 * change; each change reaches the leader at once and is kept across restarts (the agent's
 * `prefs.json`, laid over its configuration; `--reset` goes back to the configuration).
 * @module
 */

import type { Command } from "npm:@commander-js/extra-typings@^15.1.0";
import type { PrefSettings } from "../lib/mesh/mod.ts";
import { collect, labelFlags } from "./args.ts";
import { labelsText, localClient } from "./client.ts";
import { UsageError } from "./errors.ts";
import { agentOptions } from "./options.ts";
import { ConfigError, parsePrefsChange } from "./internal_client.ts";

/** The labels and services in force, as `weft set` prints them. */
function settingsText(s: PrefSettings): string {
  const services = s.services.map((x) => `${x.name}:${x.port}/${x.protocol}`).join(",") || "-";
  return `labels ${labelsText(s.labels)}\nservices ${services}\n` +
    `advertised routes ${s.advertiseRoutes.join(",") || "-"}\n` +
    `exit node offered ${s.advertiseExitNode ? "yes" : "no"}\n` +
    `routes accepted ${s.acceptRoutes ? "yes" : "no"}\n` +
    `exit node used ${s.exitNode ?? "-"}${
      s.exitNode === undefined
        ? ""
        : `${s.exitNodeAllowLanAccess ? " (LAN kept out)" : ""}${
          s.exitNodeFallback ? " (fallback: direct)" : ""
        }`
    }`;
}

/** Adds `weft set` to `program`. */
export function addSetCommand(program: Command): void {
  agentOptions(
    program.command("set")
      .description(
        "change this node's own labels, services and advertised routes at runtime, kept across " +
          "restarts (through the local agent's socket)",
      )
      .option("--label <k=v>", "set an own label, node.weft/KEY=VALUE (repeatable)", collect)
      .option("--remove-label <key>", "remove an own label (repeatable)", collect)
      .option(
        "--service <name:port/proto>",
        "offer a service, as web:8080/tcp (repeatable)",
        collect,
      )
      .option("--remove-service <name>", "stop offering a service (repeatable)", collect)
      .option(
        "--advertise-routes <cidrs>",
        "the subnet routes to offer, comma-separated, all of them (TUN mode); an empty value " +
          "offers none",
      )
      .option("--advertise-exit-node", "offer this node as an exit node (TUN mode)")
      .option("--no-advertise-exit-node", "stop offering this node as an exit node")
      .option(
        "--exit-node <name|ip>",
        "send this host's internet traffic through that member (TUN mode); an empty value stops",
      )
      .option("--exit-node-allow-lan-access", "keep the host's LAN out of the exit node's tunnel")
      .option("--no-exit-node-allow-lan-access", "send the host's LAN through the exit node too")
      .option("--exit-node-fallback", "go out directly while the exit node is not there")
      .option("--no-exit-node-fallback", "block outside traffic while the exit node is not there")
      .option("--accept-routes", "use the approved routes other members carry")
      .option("--no-accept-routes", "stop using the routes other members carry")
      .option("--reset", "drop every setting made with weft set: back to the configuration")
      .option("--json", "print JSON"),
  ).action(async (opts) => {
    const labels = labelFlags(opts.label);
    const wire = {
      ...(Object.keys(labels).length ? { labels } : {}),
      ...(opts.removeLabel ? { removeLabels: opts.removeLabel } : {}),
      ...(opts.service ? { services: opts.service } : {}),
      ...(opts.removeService ? { removeServices: opts.removeService } : {}),
      ...(opts.advertiseRoutes !== undefined
        ? { advertiseRoutes: opts.advertiseRoutes.split(",").filter((r) => r.trim() !== "") }
        : {}),
      ...(opts.advertiseExitNode !== undefined
        ? { advertiseExitNode: opts.advertiseExitNode }
        : {}),
      ...(opts.exitNode !== undefined ? { exitNode: opts.exitNode } : {}),
      ...(opts.exitNodeAllowLanAccess !== undefined
        ? { exitNodeAllowLanAccess: opts.exitNodeAllowLanAccess }
        : {}),
      ...(opts.exitNodeFallback !== undefined ? { exitNodeFallback: opts.exitNodeFallback } : {}),
      ...(opts.acceptRoutes !== undefined ? { acceptRoutes: opts.acceptRoutes } : {}),
      ...(opts.reset ? { reset: true } : {}),
    };
    if (!Object.keys(wire).length) {
      throw new UsageError(
        "say what to change: --label, --remove-label, --service, --remove-service, " +
          "--advertise-routes, --[no-]advertise-exit-node, --exit-node, " +
          "--[no-]exit-node-allow-lan-access, --[no-]exit-node-fallback, --[no-]accept-routes " +
          "or --reset",
      );
    }
    // The same rules the agent applies, here first: a bad flag is a usage error, nothing sent.
    try {
      parsePrefsChange(wire);
    } catch (e) {
      if (e instanceof ConfigError) throw new UsageError(e.message);
      throw e;
    }
    const res = await (await localClient(opts)).setPrefs(wire);
    if (opts.json) return console.log(JSON.stringify(res, null, 2));
    console.log(settingsText(res.settings));
  });
}
