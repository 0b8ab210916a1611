/**
 * `weft policy apply|show|test`: network policies. `apply` sends the file to the leader, which
 * checks it whole (the text, and against its members: names, tests) and answers every problem;
 * `test` explains a flow, or with `--call` a service call, and exits 1 when it is denied.
 * @module
 */

import { type Command, Option } from "npm:@commander-js/extra-typings@^15.1.0";
import { MAX_POLICY_BYTES } from "../lib/policy/mod.ts";
import { intArg } from "./args.ts";
import { localClient } from "./client.ts";
import { AgentAnswerError } from "../lib/control/mod.ts";
import { UsageError } from "./errors.ts";
import { agentOptions } from "./options.ts";
import { InputTooLargeError, readTextFileBounded } from "./internal_client.ts";

/** Adds `weft policy apply|show|test` to `program`. */
export function addPolicyCommands(program: Command): void {
  const policyCmd = program.command("policy").description("network policies");
  agentOptions(
    policyCmd.command("apply").description("validate a policy file and put it in force (leader)")
      .argument("<file>", "policy YAML (defaults:, policies:, segments:, future:, tests:)"),
  ).action(async (file, opts) => {
    let text;
    try {
      text = await readTextFileBounded(file, MAX_POLICY_BYTES);
    } catch (e) {
      if (e instanceof InputTooLargeError) {
        throw new UsageError(`${file}: a policy file is at most ${MAX_POLICY_BYTES} bytes`);
      }
      if (e instanceof Deno.errors.NotFound) throw new UsageError(`${file}: no such file`);
      throw e;
    }
    let applied;
    try {
      // The leader checks it whole, against its members too: every problem in one answer.
      applied = await (await localClient(opts)).applyPolicy(text);
    } catch (e) {
      if (e instanceof AgentAnswerError && e.status === 400) {
        throw new UsageError(`${file}: ${e.detail.replace(/^policy rejected: /, "")}`);
      }
      throw e;
    }
    for (const w of applied.warnings ?? []) console.error(`warning: ${file}: ${w}`);
    console.log(`policy version ${applied.version} in force`);
  });
  agentOptions(
    policyCmd.command("show").description("the policy in force on this node, with its counters")
      .option("--json", "print JSON"),
  ).action(async (opts) => {
    const p = await (await localClient(opts)).policy();
    if (opts.json) return console.log(JSON.stringify(p, null, 2));
    console.log(
      p.version ? `# version ${p.version}\n${p.text}` : "no policy (everything passes)",
    );
  });
  agentOptions(
    policyCmd.command("test").description(
      "say which rule decides a flow, or a service call (exit code 0 allowed, 1 denied)",
    )
      .requiredOption("--from <node|ip>", "source node name or address (the caller, with --call)")
      .option("--to <node|ip>", "destination node name or address (required without --call)")
      .option("--call <service/action>", "explain a call of this service's action from --from")
      .addOption(
        new Option("--proto <proto>", "protocol").choices(["tcp", "udp", "icmp", "any"]).default(
          "tcp",
        ),
      )
      .option("--port <port>", "destination port", intArg(0, 65535))
      .option("--json", "print JSON"),
  ).action(async (opts) => {
    if (opts.call !== undefined) {
      if (opts.to !== undefined || opts.port !== undefined) {
        throw new UsageError("--call explains a service call: give --from and --call only");
      }
      const r = await (await localClient(opts)).testCall({ from: opts.from, call: opts.call });
      if (opts.json) console.log(JSON.stringify(r, null, 2));
      else console.log(r.summary);
      if (!r.allowed) Deno.exitCode = 1;
      return;
    }
    if (opts.to === undefined) throw new UsageError("--to is required (or --call)");
    const r = await (await localClient(opts)).testPolicy({
      from: opts.from,
      to: opts.to,
      proto: opts.proto,
      port: opts.port,
    });
    if (opts.json) console.log(JSON.stringify(r, null, 2));
    else console.log(r.summary);
    // As a check in a script: a denied flow is a failure.
    if (!r.allowed) Deno.exitCode = 1;
  });
}
