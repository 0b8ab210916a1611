/**
 * `weft call|publish|subscribe` and `weft service list|leader`: the mesh's services, through
 * the local agent.
 * @module
 */

import { type Command, Option } from "npm:@commander-js/extra-typings@^15.1.0";
import { intArg } from "./args.ts";
import { localClient } from "./client.ts";
import { agentOptions } from "./options.ts";
import { readStdin } from "./process.ts";
import {
  formatAnswer,
  formatLeader,
  formatPublishResult,
  formatServiceTable,
  parseJsonArgument,
  printEvents,
  publishData,
} from "./service_format.ts";
import { bodyTooLargeText, MAX_CALL_BODY_BYTES, ServiceError } from "./internal_client.ts";

/** Adds `weft call|publish|subscribe` and `weft service list|leader` to `program`. */
export function addServiceCommands(program: Command): void {
  agentOptions(
    program.command("call").description("call a service's action in the mesh; print the answer")
      .argument("<service/action>", "what to call, as in auth/login")
      .argument("[json]", "the params as JSON, - to read them from stdin (default: none)")
      .option("--timeout <ms>", "wait this long for each attempt", intArg(1, 600_000))
      .option(
        "--deadline <ms>",
        "the whole call's deadline, retries included (default: timeout × (retries + 1))",
        intArg(1, 600_000),
      )
      .option("--retries <n>", "further attempts allowed", intArg(0, 16))
      .option("--idempotent", "safe to run twice: a timeout or failure may be retried elsewhere"),
  ).action(async (path, json, opts) => {
    // Params the agent could not take are refused as it refuses them (the client checks the
    // request it sends against the same limit); stdin is read no further than that.
    const params = parseJsonArgument(
      json === "-"
        ? await readStdin(
          MAX_CALL_BODY_BYTES,
          "the params",
          () => new ServiceError("too-large", bodyTooLargeText(MAX_CALL_BODY_BYTES)),
        )
        : json,
    );
    const client = await localClient(opts);
    const result = await client.call(path, params, {
      ...(opts.timeout !== undefined ? { timeoutMs: opts.timeout } : {}),
      ...(opts.deadline !== undefined ? { deadlineMs: opts.deadline } : {}),
      ...(opts.retries !== undefined ? { retries: opts.retries } : {}),
      ...(opts.idempotent ? { idempotent: true } : {}),
    });
    console.log(formatAnswer(result));
  });

  agentOptions(
    program.command("publish").description("publish an event to the topic's subscribers")
      .argument("<topic>", "the topic, as in status/updated")
      .argument("<data>", "the payload: JSON, or else sent as a string")
      .addOption(
        new Option("--mode <mode>", "who gets it").choices(
          ["all", "one-per-service", "local-only"] as const,
        ).default("all"),
      )
      .option("--json", "print the result as JSON"),
  ).action(async (topic, data, opts) => {
    const client = await localClient(opts);
    const r = await client.publish(topic, publishData(data), opts.mode);
    console.log(opts.json ? JSON.stringify(r, null, 2) : formatPublishResult(r));
  });

  agentOptions(
    program.command("subscribe").description("print a topic's events as NDJSON until stopped")
      .argument("<topic>", "the topic pattern (* one level, > the rest)")
      .option("--group <service>", "one subscriber per group gets one-per-service events")
      .option("--queue <n>", "events the agent holds for a slow reader", intArg(1, 4096)),
  ).action(async (pattern, opts) => {
    const client = await localClient(opts);
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    Deno.addSignalListener("SIGINT", onSignal);
    Deno.addSignalListener("SIGTERM", onSignal);
    const enc = new TextEncoder();
    try {
      await printEvents(client, pattern, {
        group: opts.group,
        queue: opts.queue,
        signal: stop.signal,
        out: (line) => {
          try {
            Deno.stdout.writeSync(enc.encode(line + "\n"));
          } catch (e) {
            // A reader that went away (`| head -1`) ends the subscription, not in an error.
            if (!(e instanceof Deno.errors.BrokenPipe)) throw e;
            stop.abort();
          }
        },
        err: (line) => console.error(line),
      });
    } finally {
      Deno.removeSignalListener("SIGINT", onSignal);
      Deno.removeSignalListener("SIGTERM", onSignal);
    }
  });

  const serviceCmd = program.command("service").description("the mesh's services");
  agentOptions(
    serviceCmd.command("list").description("services, their instances with health, and leaders")
      .option("--json", "print JSON"),
  ).action(async (opts) => {
    const services = await (await localClient(opts)).services();
    console.log(opts.json ? JSON.stringify(services, null, 2) : formatServiceTable(services));
  });
  agentOptions(
    serviceCmd.command("leader").description("the service's leader: its node and address")
      .argument("<name>", "the service")
      .option("--json", "print JSON"),
  ).action(async (name, opts) => {
    const client = await localClient(opts);
    const leader = await client.serviceLeader(name);
    // No leader of a service nobody offers: the name is wrong, not the election.
    if (!leader && !(await client.services()).some((s) => s.name === name.toLowerCase())) {
      throw new Error(`no such service: ${name} (weft service list shows those there are)`);
    }
    if (opts.json) console.log(JSON.stringify({ name, leader }, null, 2));
    else if (leader) console.log(formatLeader(leader));
    else console.error(`no leader of ${name} is known`);
    if (!leader) Deno.exitCode = 1;
  });
}
