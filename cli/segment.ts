/**
 * `weft segment create|list|delete`: Layer 2 segments over the mesh, kept in the policy.
 * @module
 */

import { type Command, InvalidArgumentError } from "npm:@commander-js/extra-typings@^15.1.0";
import type { SegmentView, SelectorWire } from "../lib/policy/mod.ts";
import { formatTable } from "../lib/status/mod.ts";
import { localClient } from "./client.ts";
import { UsageError } from "./errors.ts";
import { agentOptions } from "./options.ts";

/** A whole number; its range is the policy's to check (the leader says which). */
function integerArg(v: string): number {
  if (!/^\d{1,9}$/.test(v)) throw new InvalidArgumentError("expected a whole number");
  return Number(v);
}

/** `--names a,b`: node names, at least one. */
function namesArg(v: string): string[] {
  const names = v.split(",").map((n) => n.trim()).filter((n) => n);
  if (!names.length) throw new InvalidArgumentError("expected node names, comma-separated");
  return names;
}

/** The selector `--select` and `--names` give together: either picks a member. */
function selector(select: string | undefined, names: string[] | undefined): SelectorWire {
  const terms: SelectorWire[] = [];
  if (select !== undefined) terms.push(select);
  if (names !== undefined) terms.push({ names });
  if (!terms.length) {
    throw new UsageError(
      'say which members are in the segment: --select EXPR (labels, e.g. site=a, or "*" for ' +
        "every member) or --names NODE,...",
    );
  }
  return terms.length === 1 ? terms[0] : terms;
}

/** The members column: names, offline ones marked, `-` for none. */
function membersText(s: SegmentView): string {
  return s.members.map((m) => m.online ? m.name : `${m.name} (offline)`).join(",") || "-";
}

/** Adds `weft segment create|list|delete` to `program`. */
export function addSegmentCommands(program: Command): void {
  const segmentCmd = program.command("segment").description(
    "Layer 2 segments: a bridge on each member a selector picks, joined over the mesh",
  );
  agentOptions(
    segmentCmd.command("create").description(
      "add a segment to the policy and put it in force (on the leader)",
    )
      .argument("<name>", "1-12 of a-z, 0-9 and - (the bridge is br-<name>)")
      .requiredOption("--vni <n>", "its VXLAN network identifier, 1-16777215, unique", integerArg)
      .option(
        "--select <expr>",
        'the members in it by label (site=a, "site in (a,b)", role=db,!canary), or "*" for every member',
      )
      .option(
        "--names <node,...>",
        "members by name (with --select: either picks a member)",
        namesArg,
      )
      .option("--mtu <n>", "its MTU, 576-9000 (default: the overlay's less 50)", integerArg),
  ).action(async (name, opts) => {
    const select = selector(opts.select, opts.names);
    const { version } = await (await localClient(opts)).createSegment({
      name,
      vni: opts.vni,
      select,
      ...(opts.mtu !== undefined ? { mtu: opts.mtu } : {}),
    });
    console.log(`segment ${name} (vni ${opts.vni}) created: policy version ${version} in force`);
  });
  agentOptions(
    segmentCmd.command("list").description(
      "the segments of the policy in force on this node, with the members each selects",
    ).option("--json", "print JSON"),
  ).action(async (opts) => {
    const { segments } = await (await localClient(opts)).segments();
    if (opts.json) return console.log(JSON.stringify(segments, null, 2));
    if (!segments.length) return console.log("no segments");
    const rows = [["NAME", "VNI", "MTU", "MEMBERS"]];
    for (const s of segments) {
      rows.push([
        s.name,
        String(s.vni),
        s.mtu === undefined ? "auto" : String(s.mtu),
        membersText(s),
      ]);
    }
    console.log(formatTable(rows));
  });
  agentOptions(
    segmentCmd.command("delete").description(
      "remove a segment from the policy (on the leader); its bridges go",
    ).argument("<name>", "the segment's name"),
  ).action(async (name, opts) => {
    const { version } = await (await localClient(opts)).deleteSegment(name);
    console.log(`segment ${name} deleted: policy version ${version} in force`);
  });
}
