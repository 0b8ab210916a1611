/**
 * `weft token create|list|revoke`: join tokens, on the leader; `weft token rotate-control`: the
 * agent's own control token.
 * @module
 */

import type { Command } from "npm:@commander-js/extra-typings@^15.1.0";
import { formatTable } from "../lib/status/mod.ts";
import { collect, intArg, labelFlags } from "./args.ts";
import { labelsText, localClient, rotateControlToken } from "./client.ts";
import { UsageError } from "./errors.ts";
import { agentOptions } from "./options.ts";
import { grantedServicesProblem, parseApprovals } from "./internal_client.ts";

/** Adds `weft token create|list|revoke|rotate-control` to `program`. */
export function addTokenCommands(program: Command): void {
  const tokenCmd = program.command("token").description("manage join tokens (on the leader)");
  agentOptions(
    tokenCmd.command("create").description("create a join token and print it")
      .option("--ttl <duration>", "how long it is valid (90s, 15m, 24h, 7d)", "24h")
      .option("--uses <n>", "how many joins it allows (default: unlimited)", intArg(1, 1_000_000))
      .option("--label <k=v>", "label for nodes joining with it (repeatable)", collect)
      .option(
        "--service <name>",
        "a service its nodes may offer (repeatable; a name any token grants is closed to others)",
        collect,
      )
      .option("--relay", "its nodes may relay for others (when started with --relay)")
      .option(
        "--hostname <name>",
        "the name its node gets, whatever it asks for (refused when taken or reserved)",
      )
      .option(
        "--approve-routes <cidr,...|exit>",
        "routes its nodes may carry without route approve: prefixes (covering the routes " +
          "inside) and exit (repeatable or comma-separated)",
        collect,
      ),
  ).action(async (opts) => {
    let approveRoutes: string[] = [];
    try {
      approveRoutes = parseApprovals((opts.approveRoutes ?? []).flatMap((x) => x.split(",")));
    } catch (e) {
      throw new UsageError(`--approve-routes: ${(e as Error).message}`);
    }
    const services = opts.service ?? [];
    const serviceProblem = grantedServicesProblem(services);
    if (serviceProblem !== undefined) throw new UsageError(`--service: ${serviceProblem}`);
    const labels = labelFlags(opts.label);
    const client = await localClient(opts);
    const t = await client.createToken({
      ttl: opts.ttl,
      uses: opts.uses,
      labels,
      ...(services.length ? { services } : {}),
      ...(opts.relay ? { relay: true } : {}),
      ...(opts.hostname !== undefined ? { hostname: opts.hostname } : {}),
      ...(approveRoutes.length ? { approveRoutes } : {}),
    });
    console.log(t.token);
  });
  agentOptions(
    tokenCmd.command("list").description("list join tokens").option("--json", "print JSON"),
  )
    .action(async (opts) => {
      const tokens = await (await localClient(opts)).listTokens();
      if (opts.json) return console.log(JSON.stringify(tokens, null, 2));
      const rows = [["ID", "EXPIRES", "USES LEFT", "REVOKED", "LABELS", "GRANTS"]];
      for (const t of tokens) {
        rows.push([
          t.id,
          // Expired at the leader's clock: joins with it are refused.
          t.expired ? `${timeText(t.expiresAt)} (expired)` : timeText(t.expiresAt),
          t.usesLeft === null ? "unlimited" : String(t.usesLeft),
          t.revoked ? "yes" : "no",
          labelsText(t.labels),
          grantsText(t),
        ]);
      }
      console.log(formatTable(rows));
    });
  agentOptions(
    tokenCmd.command("revoke").description("revoke a join token")
      .argument("<id>", "the token's id (see token list)"),
  ).action(async (id, opts) => {
    await (await localClient(opts)).revokeToken(id);
    console.log(`revoked ${id}`);
  });
  tokenCmd.command("rotate-control")
    .description(
      "replace the local agent's control token (the old one stops working at once; over its " +
        "socket, or in its state directory while it is stopped)",
    )
    .option("--state-dir <dir>", "the agent's state directory (default: the agent's default)")
    .action(async (opts) => {
      console.log(`new control token in ${await rotateControlToken(opts)}`);
    });
}

/** A stored time as ISO text; a value no date can hold (an old leader's state) shown as is. */
function timeText(ms: unknown): string {
  const d = new Date(typeof ms === "number" ? ms : NaN);
  return Number.isNaN(d.getTime()) ? `invalid (${String(ms).slice(0, 32)})` : d.toISOString();
}

/** What a token grants besides labels, for `weft token list`. */
function grantsText(
  t: { services?: string[]; relay?: true; approveRoutes?: string[]; hostname?: string },
): string {
  const parts = [
    ...(t.services ?? []).map((s) => `service=${s}`),
    ...(t.relay ? ["relay"] : []),
    ...(t.approveRoutes ?? []).map((r) => `route=${r}`),
    ...(t.hostname !== undefined ? [`name=${t.hostname}`] : []),
  ];
  return parts.length ? parts.join(",") : "-";
}
