/**
 * The `weft` command line: a thin layer over `mod.ts`.
 *
 * Exit codes: 0 ok, 1 runtime failure, 2 bad usage or configuration.
 * @module
 */

import { Command, CommanderError, InvalidArgumentError, Option } from "@commander-js/extra-typings";
import {
  AgentAnswerError,
  type AgentConfig,
  ArgumentError,
  BACKEND_NAMES,
  type BackendName,
  compilePolicyText,
  ConfigError,
  ControlClient,
  type ControlServer,
  createLogger,
  defaultStateDir,
  type DirLock,
  encodeKey,
  formatAnswer,
  formatLeader,
  formatPublishResult,
  formatServiceTable,
  formatStatusTable,
  formatTable,
  generatePresharedKey,
  generatePrivateKey,
  grantedServicesProblem,
  InputTooLargeError,
  interfaceNameFromPath,
  JoinError,
  LeaderError,
  loadAgentConfig,
  loadWgQuickFile,
  LOG_FORMATS,
  LOG_LEVELS,
  type Logger,
  MAX_BODY_BYTES,
  MAX_POLICY_BYTES,
  MeshAgent,
  meshControlFromConfig,
  type MeshOptions,
  meshOptionsFromConfig,
  meshRoleFromConfig,
  optionHelp,
  parseJsonArgument,
  parseKey,
  parseLabel,
  parseLogFormat,
  parseLogLevel,
  PolicyError,
  printEvents,
  type ProtocolTimers,
  publicKeyOf,
  publishData,
  readTextFileBounded,
  readUpTo,
  runDemo,
  serveControl,
  ServiceError,
  serviceErrorText,
  StateDir,
  userSetFlags,
  VERSION,
  WgQuickUp,
} from "./mod.ts";

/** A usage or configuration error: exit code 2. */
class UsageError extends Error {}

const DEFAULT_STATUS = "127.0.0.1:51880";

function intArg(min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    }
    return n;
  };
}

function timerArg(v: string, prev: Partial<ProtocolTimers> = {}): Partial<ProtocolTimers> {
  const m = /^([a-zA-Z]+)=(\d+)$/.exec(v);
  const known = [
    "rekeyAfterTime",
    "rejectAfterTime",
    "rekeyAttemptTime",
    "rekeyTimeout",
    "keepaliveTimeout",
    "cookieRefreshTime",
    "rekeyJitter",
  ];
  if (!m || !known.includes(m[1])) {
    throw new InvalidArgumentError(
      `expected NAME=MILLISECONDS with NAME one of ${known.join(", ")}`,
    );
  }
  return { ...prev, [m[1]]: Number(m[2]) };
}

function loggerFrom(opts: { logLevel: string; logFormat: string }): Logger {
  return createLogger({
    level: parseLogLevel(opts.logLevel),
    format: parseLogFormat(opts.logFormat),
  });
}

/** Standard input as text, refused past `max` bytes (`< /dev/zero` must not fill memory). */
async function readStdin(max: number, what: string): Promise<string> {
  try {
    return new TextDecoder().decode(await readUpTo(Deno.stdin, max)).trim();
  } catch (e) {
    if (e instanceof InputTooLargeError) {
      throw new UsageError(`${what} on standard input is at most ${max} bytes`);
    }
    throw e;
  }
}

/** Runs until SIGINT or SIGTERM, then calls `stop`; rejects when stopping fails (exit 1). */
function untilSignal(stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    let stopping = false;
    const handler = () => {
      if (stopping) return;
      stopping = true;
      stop().then(resolve, reject);
    };
    Deno.addSignalListener("SIGINT", handler);
    Deno.addSignalListener("SIGTERM", handler);
  });
}

/** A stored time as ISO text; a value no date can hold (an old leader's state) shown as is. */
function timeText(ms: unknown): string {
  const d = new Date(typeof ms === "number" ? ms : NaN);
  return Number.isNaN(d.getTime()) ? `invalid (${String(ms).slice(0, 32)})` : d.toISOString();
}

/** Labels as `k=v,k=v`, or `-`. */
function labelsText(labels: Record<string, string> | undefined): string {
  return Object.entries(labels ?? {}).map(([k, v]) => `${k}=${v}`).join(",") || "-";
}

function collect(v: string, prev: string[] | undefined): string[] {
  return [...(prev ?? []), v];
}

/**
 * The configuration and the mesh agent's options from it; bad input is a usage error. With
 * neither `--leader` nor `--join`, the role is read from the state directory, which is locked
 * first (and the lock handed to the agent): an agent already using it is an error (exit 1).
 */
async function meshConfig(program: Command) {
  let stateLock: DirLock | undefined;
  try {
    const config = await loadAgentConfig({ flags: userSetFlags(program) });
    // A missing directory is not made here: it holds no role (meshRoleFromConfig says so).
    if (!config.leader && !config.join && await isDirectory(config.stateDir)) {
      stateLock = await new StateDir(config.stateDir).lock();
    }
    const options = meshOptionsFromConfig(config, { role: await meshRoleFromConfig(config) });
    return { config, options: { ...options, ...(stateLock ? { stateLock } : {}) } };
  } catch (e) {
    stateLock?.release();
    if (e instanceof ConfigError) throw new UsageError(e.message);
    throw e;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/** Starts the mesh agent; a join or leader refusal is a usage error (exit code 2). */
async function startMesh(options: MeshOptions): Promise<MeshAgent> {
  try {
    return await MeshAgent.start(options);
  } catch (e) {
    if (e instanceof JoinError || e instanceof LeaderError) throw new UsageError(e.message);
    throw e;
  }
}

/** Serves the mesh agent's status and control routes; closes the agent if that fails. */
async function serveMesh(mesh: MeshAgent, config: AgentConfig): Promise<ControlServer> {
  try {
    return serveControl(mesh.agent, { ...(await meshControlFromConfig(config)), mesh });
  } catch (e) {
    await mesh.close();
    throw e;
  }
}

/** `weft --leader` / `weft --join <token>`: run a mesh agent until a signal. */
async function runMesh(program: Command): Promise<void> {
  const { config, options } = await meshConfig(program);
  const mesh = await startMesh(options);
  const server = await serveMesh(mesh, config);
  options.logger.info("status listening", { address: server.address });
  await untilSignal(async () => {
    try {
      await server.close();
    } finally {
      await mesh.close(); // rejects when the final state write fails
    }
  });
}

/**
 * A client for the local agent, with the control token from its state directory. Agents started
 * with `weft up` have no token; `required` says whether to insist on one.
 */
async function localClient(
  opts: { statusListen: string; stateDir?: string },
  required = true,
): Promise<ControlClient> {
  const dir = opts.stateDir ?? defaultStateDir();
  let token: string | undefined;
  try {
    token = (await Deno.readTextFile(`${dir}/control.token`)).trim();
  } catch {
    if (required) {
      throw new UsageError(
        `cannot read the control token in ${dir}/control.token: give the agent's --state-dir`,
      );
    }
  }
  return new ControlClient(opts.statusListen, token);
}

/** The root command: `weft --leader` / `weft --join`, with every option of the configuration. */
function rootCommand(): Command {
  const program = new Command()
    .name("weft")
    .description(
      "An encrypted WireGuard-compatible overlay mesh.\n\n" +
        "  weft --leader [options]        start (or restart) a mesh\n" +
        "  weft --join <token> [options]  join one (a restarted node needs no token)",
    )
    .version(VERSION, "-V, --version")
    .showHelpAfterError()
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeErr: (s) => Deno.stderr.writeSync(new TextEncoder().encode(s)) });
  for (const o of optionHelp()) {
    if (!o.flag) continue;
    const opt = new Option(`${o.flag}${o.arg ? ` ${o.arg}` : ""}`, o.description);
    if (o.repeatable) opt.argParser(collect);
    program.addOption(opt);
  }
  program.action(() => runMesh(program as unknown as Command));
  return program;
}

const logLevelOption = () =>
  new Option("--log-level <level>", "debug, info, warn or error").choices(LOG_LEVELS).default(
    "info",
  );
const logFormatOption = () =>
  new Option("--log-format <format>", "text or json").choices(LOG_FORMATS).default("text");
const statusListenOption = () =>
  new Option("--status-listen <host:port>", "the agent's HTTP server").default(DEFAULT_STATUS);
const stateDirOption = () =>
  new Option("--state-dir <dir>", "the agent's state directory (holds control.token)");

/** `weft up`: an interface from a wg-quick style file. */
function addUpCommand(program: Command): void {
  program.command("up")
    .description("bring up an interface from a wg-quick style file")
    .argument("<config>", "the .conf file; the interface is named after it")
    .option("--userspace", "no TUN device: answer pings and carry datagrams in-process")
    .addOption(
      new Option("--crypto <backend>", "force a crypto backend").choices(BACKEND_NAMES),
    )
    .option(
      "--crypto-workers <n>",
      "worker threads that seal and open packets a batch at a time: auto (2 with libsodium " +
        "on 4 cores or more) or 0 to 64",
      (v: string) => v === "auto" ? "auto" as const : intArg(0, 64)(v),
    )
    .addOption(statusListenOption())
    .option("--no-status", "do not start the HTTP status/control server")
    .option("--listen-port <port>", "override ListenPort", intArg(0, 65535))
    .addOption(
      new Option("--underlay <kind>", "UDP implementation (default: linux on Linux)")
        .choices(["linux", "deno"] as const),
    )
    .option("--uapi [dir]", "serve `wg` UAPI (default on with a TUN; dir /var/run/wireguard)")
    .option("--no-uapi", "do not serve the WireGuard UAPI socket")
    .option("--timer <name=ms>", "override a protocol timer (repeatable)", timerArg)
    .addOption(logLevelOption())
    .addOption(logFormatOption())
    .action(async (file, opts) => {
      const logger = loggerFrom(opts);
      let config;
      let name;
      try {
        name = interfaceNameFromPath(file);
        config = await loadWgQuickFile(file);
      } catch (e) {
        if (e instanceof ConfigError || e instanceof Deno.errors.NotFound) {
          throw new UsageError(e.message);
        }
        throw e;
      }
      let up;
      try {
        up = await WgQuickUp.start({
          config,
          file,
          interfaceName: name,
          mode: opts.userspace ? "userspace" : "tun",
          listenPort: opts.listenPort,
          crypto: opts.crypto as BackendName | undefined,
          cryptoWorkers: opts.cryptoWorkers,
          timers: opts.timer,
          underlay: opts.underlay,
          uapi: opts.uapi,
          logger,
        });
      } catch (e) {
        // A key the file sets that cannot be honoured here is a configuration error.
        if (e instanceof ConfigError) throw new UsageError(e.message);
        throw e;
      }
      let server;
      try {
        server = opts.status ? serveControl(up.agent, { listen: opts.statusListen }) : undefined;
      } catch (e) {
        await up.down();
        throw e;
      }
      if (server) logger.info("status listening", { address: server.address });
      let failed: unknown;
      await untilSignal(async () => {
        try {
          await server?.close();
        } finally {
          // The down steps all run; what failed among them makes the exit code 1.
          await up.down().catch((e) => failed = e);
        }
      });
      if (failed !== undefined) throw failed;
    });
}

/** `weft token create|list|revoke` on the leader. */
function addTokenCommands(program: Command): void {
  const tokenCmd = program.command("token").description("manage join tokens (on the leader)");
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
    .addOption(statusListenOption())
    .addOption(stateDirOption())
    .action(async (opts) => {
      const services = opts.service ?? [];
      const serviceProblem = grantedServicesProblem(services);
      if (serviceProblem !== undefined) throw new UsageError(`--service: ${serviceProblem}`);
      const labels: Record<string, string> = {};
      for (const l of opts.label ?? []) {
        let p: ReturnType<typeof parseLabel>;
        try {
          p = parseLabel(l);
        } catch (e) {
          throw new UsageError((e as Error).message);
        }
        // As the agent's own --label: a key given twice is a mistake, not "the last one wins".
        if (Object.hasOwn(labels, p.key)) {
          throw new UsageError(`--label: label ${JSON.stringify(p.key)} is given twice`);
        }
        labels[p.key] = p.value;
      }
      const client = await localClient(opts);
      const t = await client.createToken({
        ttl: opts.ttl,
        uses: opts.uses,
        labels,
        ...(services.length ? { services } : {}),
        ...(opts.relay ? { relay: true } : {}),
      });
      console.log(t.token);
    });
  tokenCmd.command("list").description("list join tokens")
    .option("--json", "print JSON")
    .addOption(statusListenOption())
    .addOption(stateDirOption())
    .action(async (opts) => {
      const tokens = await (await localClient(opts)).listTokens();
      if (opts.json) return console.log(JSON.stringify(tokens, null, 2));
      const rows = [["ID", "EXPIRES", "USES LEFT", "REVOKED", "LABELS", "GRANTS"]];
      for (const t of tokens) {
        rows.push([
          t.id,
          timeText(t.expiresAt),
          t.usesLeft === null ? "unlimited" : String(t.usesLeft),
          t.revoked ? "yes" : "no",
          labelsText(t.labels),
          grantsText(t),
        ]);
      }
      console.log(formatTable(rows));
    });
  tokenCmd.command("revoke").description("revoke a join token")
    .argument("<id>", "the token's id (see token list)")
    .addOption(statusListenOption())
    .addOption(stateDirOption())
    .action(async (id, opts) => {
      await (await localClient(opts)).revokeToken(id);
      console.log(`revoked ${id}`);
    });
}

/** What a token grants besides labels, for `weft token list`. */
function grantsText(t: { services?: string[]; relay?: true }): string {
  const parts = [...(t.services ?? []).map((s) => `service=${s}`), ...(t.relay ? ["relay"] : [])];
  return parts.length ? parts.join(",") : "-";
}

/** `weft node list|set|remove`. */
function addNodeCommands(program: Command): void {
  const nodeCmd = program.command("node").description("the mesh's nodes");
  nodeCmd.command("list").description("list the nodes this agent knows")
    .option("--json", "print JSON")
    .addOption(statusListenOption())
    .addOption(stateDirOption())
    .action(async (opts) => {
      const res = await (await localClient(opts)).nodes();
      if (opts.json) return console.log(JSON.stringify(res, null, 2));
      // Granted labels (token, operator) apart from what each node says of itself (untrusted).
      const rows = [["NAME", "ADDRESS", "ROLE", "ENDPOINT", "LABELS", "SELF-ASSERTED"]];
      for (const n of res.nodes) {
        rows.push([
          n.name,
          n.address,
          n.role,
          n.endpoints[0] ?? "-",
          labelsText(n.labels),
          labelsText(n.nodeLabels),
        ]);
      }
      console.log(formatTable(rows));
    });
  nodeCmd.command("set").description("grant or withdraw relaying for others (on the leader)")
    .argument("<name|ip>", "the node's name or overlay address")
    .option("--relay", "the node may relay for others (it relays when started with --relay)")
    .option("--no-relay", "the node may not relay for others")
    .addOption(statusListenOption())
    .addOption(stateDirOption())
    .action(async (id, opts) => {
      if (opts.relay === undefined) throw new UsageError("say --relay or --no-relay");
      const m = await (await localClient(opts)).setNode(id, { relay: opts.relay });
      console.log(`${m.name} (${m.address}): ${m.grants?.relay ? "may relay" : "may not relay"}`);
    });
  nodeCmd.command("remove").description("remove a node from the mesh (on the leader)")
    .argument("<name|ip>", "the node's name or overlay address")
    .addOption(statusListenOption())
    .addOption(stateDirOption())
    .action(async (id, opts) => {
      const m = await (await localClient(opts)).removeNode(id);
      console.log(`removed ${m.name} (${m.address})`);
    });
}

/** `weft policy apply|show|test`. */
function addPolicyCommands(program: Command): void {
  const policyCmd = program.command("policy").description("network policies");
  policyCmd.command("apply").description("validate a policy file and put it in force (leader)")
    .argument("<file>", "policy YAML (defaults: and policies:)")
    .addOption(statusListenOption())
    .addOption(stateDirOption())
    .action(async (file, opts) => {
      let text;
      try {
        text = await readTextFileBounded(file, MAX_POLICY_BYTES);
        compilePolicyText(text);
      } catch (e) {
        if (e instanceof PolicyError) throw new UsageError(`${file}: ${e.message}`);
        if (e instanceof InputTooLargeError) {
          throw new UsageError(`${file}: a policy file is at most ${MAX_POLICY_BYTES} bytes`);
        }
        if (e instanceof Deno.errors.NotFound) throw new UsageError(`${file}: no such file`);
        throw e;
      }
      const v = await (await localClient(opts)).applyPolicy(text);
      console.log(`policy version ${v} in force`);
    });
  policyCmd.command("show").description("the policy in force on this node, with its counters")
    .option("--json", "print JSON")
    .addOption(statusListenOption())
    .addOption(stateDirOption())
    .action(async (opts) => {
      const p = await (await localClient(opts)).policy();
      if (opts.json) return console.log(JSON.stringify(p, null, 2));
      console.log(
        p.version ? `# version ${p.version}\n${p.text}` : "no policy (everything passes)",
      );
    });
  policyCmd.command("test").description("say which rule decides a flow")
    .requiredOption("--from <node|ip>", "source node name or address")
    .requiredOption("--to <node|ip>", "destination node name or address")
    .addOption(
      new Option("--proto <proto>", "protocol").choices(["tcp", "udp", "icmp", "any"]).default(
        "tcp",
      ),
    )
    .option("--port <port>", "destination port", intArg(0, 65535))
    .option("--json", "print JSON")
    .addOption(statusListenOption())
    .addOption(stateDirOption())
    .action(async (opts) => {
      const r = await (await localClient(opts)).testPolicy({
        from: opts.from,
        to: opts.to,
        proto: opts.proto,
        port: opts.port,
      });
      if (opts.json) return console.log(JSON.stringify(r, null, 2));
      console.log(r.summary);
    });
}

/** `weft genkey|genpsk|pubkey`, as wg's. */
function addKeyCommands(program: Command): void {
  program.command("genkey").description("print a new private key (as wg genkey)")
    .action(() => console.log(encodeKey(generatePrivateKey())));
  program.command("genpsk").description("print a new preshared key (as wg genpsk)")
    .action(() => console.log(encodeKey(generatePresharedKey())));
  program.command("pubkey").description("read a private key on stdin, print its public key")
    .action(async () => {
      const text = await readStdin(4096, "a private key");
      let priv;
      try {
        priv = parseKey(text, "private key");
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      console.log(encodeKey(publicKeyOf(priv)));
    });
}

/** `weft status|ping|send|recv` through the local agent. */
function addLocalAgentCommands(program: Command): void {
  program.command("status").description("show the local agent's status")
    .option("--json", "print the status document as JSON")
    .addOption(statusListenOption())
    .action(async (opts) => {
      const st = await new ControlClient(opts.statusListen).status();
      console.log(opts.json ? JSON.stringify(st, null, 2) : formatStatusTable(st));
    });

  program.command("ping").description("ping an overlay address through the local agent")
    .argument("<address>", "overlay IPv4 or IPv6 address")
    .option("-c, --count <n>", "echo requests to send", intArg(1, 100), 3)
    .option("--timeout <ms>", "wait this long for each reply", intArg(1, 60000), 1000)
    .addOption(statusListenOption())
    .addOption(stateDirOption())
    .action(async (address, opts) => {
      const res = await (await localClient(opts, false)).ping(address, {
        count: opts.count,
        timeoutMs: opts.timeout,
      });
      let ok = 0;
      for (const [i, rtt] of res.rtts.entries()) {
        if (rtt === null) console.log(`seq=${i} timeout`);
        else {
          ok++;
          console.log(`seq=${i} reply from ${address} time=${rtt.toFixed(2)} ms`);
        }
      }
      console.log(`${res.rtts.length} sent, ${ok} received`);
      if (ok === 0) Deno.exitCode = 1;
    });

  program.command("send").description("send a UDP datagram through the local agent")
    .argument("<address>", "overlay address")
    .argument("<port>", "UDP port", intArg(1, 65535))
    .argument("[text]", "payload (default: read stdin)")
    .option("--from-port <port>", "source port", intArg(1, 65535))
    .addOption(statusListenOption())
    .addOption(stateDirOption())
    .action(async (address, port, text, opts) => {
      const payload = new TextEncoder().encode(text ?? await readStdin(65_535, "a datagram"));
      await (await localClient(opts, false)).send(address, port, payload, opts.fromPort);
    });

  program.command("recv").description("print UDP datagrams the local agent receives on a port")
    .argument("<port>", "UDP port", intArg(1, 65535))
    .option("-n, --count <n>", "stop after this many", intArg(1, 1_000_000))
    .addOption(statusListenOption())
    .addOption(stateDirOption())
    .action(async (port, opts) => {
      const client = await localClient(opts, false);
      const dec = new TextDecoder();
      // Said on stderr, so that a script knows when to start sending; stdout stays data only.
      const onReady = () => console.error(`listening on port ${port}`);
      for await (const d of client.recv(port, { count: opts.count, onReady })) {
        console.log(`${d.address}:${d.port} ${dec.decode(d.data)}`);
      }
    });
}

/** `weft call|publish|subscribe` and `weft service list|leader` through the local agent. */
function addServiceCommands(program: Command): void {
  program.command("call").description("call a service's action in the mesh; print the answer")
    .argument("<service/action>", "what to call, as in auth/login")
    .argument("[json]", "the params as JSON, - to read them from stdin (default: none)")
    .option("--timeout <ms>", "wait this long for each attempt", intArg(1, 600_000))
    .option("--retries <n>", "further attempts allowed", intArg(0, 16))
    .option("--idempotent", "safe to run twice: a timeout or failure may be retried elsewhere")
    .addOption(statusListenOption())
    .addOption(stateDirOption())
    .action(async (path, json, opts) => {
      const params = parseJsonArgument(
        json === "-" ? await readStdin(MAX_BODY_BYTES, "the params") : json,
      );
      const client = await localClient(opts);
      const result = await client.call(path, params, {
        ...(opts.timeout !== undefined ? { timeoutMs: opts.timeout } : {}),
        ...(opts.retries !== undefined ? { retries: opts.retries } : {}),
        ...(opts.idempotent ? { idempotent: true } : {}),
      });
      console.log(formatAnswer(result));
    });

  program.command("publish").description("publish an event to the topic's subscribers")
    .argument("<topic>", "the topic, as in status/updated")
    .argument("<data>", "the payload: JSON, or else sent as a string")
    .addOption(
      new Option("--mode <mode>", "who gets it").choices(
        ["all", "one-per-service", "local-only"] as const,
      ).default("all"),
    )
    .option("--json", "print the result as JSON")
    .addOption(statusListenOption())
    .addOption(stateDirOption())
    .action(async (topic, data, opts) => {
      const client = await localClient(opts);
      const r = await client.publish(topic, publishData(data), opts.mode);
      console.log(opts.json ? JSON.stringify(r, null, 2) : formatPublishResult(r));
    });

  program.command("subscribe").description("print a topic's events as NDJSON until stopped")
    .argument("<topic>", "the topic pattern (* one level, > the rest)")
    .option("--group <service>", "one subscriber per group gets one-per-service events")
    .option("--queue <n>", "events the agent holds for a slow reader", intArg(1, 4096))
    .addOption(statusListenOption())
    .addOption(stateDirOption())
    .action(async (pattern, opts) => {
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
  serviceCmd.command("list").description("services, their instances with health, and leaders")
    .option("--json", "print JSON")
    .addOption(statusListenOption())
    .addOption(stateDirOption())
    .action(async (opts) => {
      const services = await (await localClient(opts)).services();
      console.log(opts.json ? JSON.stringify(services, null, 2) : formatServiceTable(services));
    });
  serviceCmd.command("leader").description("the service's leader: its node and address")
    .argument("<name>", "the service")
    .option("--json", "print JSON")
    .addOption(statusListenOption())
    .addOption(stateDirOption())
    .action(async (name, opts) => {
      const leader = await (await localClient(opts)).serviceLeader(name);
      if (opts.json) console.log(JSON.stringify({ name, leader }, null, 2));
      else if (leader) console.log(formatLeader(leader));
      else console.error(`no leader of ${name} is known`);
      if (!leader) Deno.exitCode = 1;
    });
}

/** `weft demo`: a local mesh on loopback. */
function addDemoCommand(program: Command): void {
  program.command("demo").description(
    "run a local demo mesh on loopback in userspace mode (no root, no config)",
  )
    .option("--nodes <n>", "how many agents", intArg(2, 16), 3)
    .option(
      "--base-port <port>",
      "first UDP port (status ports follow)",
      intArg(1024, 60000),
      52820,
    )
    .option("--once", "print the status and pings, then stop")
    .addOption(logLevelOption())
    .addOption(logFormatOption())
    .action(async (opts) => {
      const logger = loggerFrom(opts);
      const demo = await runDemo({ nodes: opts.nodes, basePort: opts.basePort, logger });
      if (opts.once) {
        await demo.stop();
        return;
      }
      console.log("");
      console.log(`state and logs: ${demo.dir} (removed when the demo stops)`);
      console.log("demo mesh running; Ctrl-C to stop");
      await untilSignal(() => demo.stop());
    });
}

/** The whole command line: the root command and every subcommand. */
function build(): Command {
  const program = rootCommand();
  for (
    const add of [
      addUpCommand,
      addTokenCommands,
      addNodeCommands,
      addPolicyCommands,
      addKeyCommands,
      addLocalAgentCommands,
      addServiceCommands,
      addDemoCommand,
    ]
  ) add(program);
  return program;
}

/** Runs the CLI on `args`; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const program = build();
  try {
    await program.parseAsync(args, { from: "user" });
    return typeof Deno.exitCode === "number" ? Deno.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version") return 0;
      if (e.code === "commander.help") return 0;
      return 2;
    }
    const msg = e instanceof ServiceError
      ? serviceErrorText(e)
      : e instanceof Error
      ? e.message
      : String(e);
    console.error(`weft: ${msg}`);
    // A request the agent refused (4xx: bad input, wrong token) is a refusal like a bad flag; so
    // is a service call the service layer calls malformed. Other service errors (nobody offers
    // it, no answer, the handler failed) are failures.
    const refused = (e instanceof AgentAnswerError && e.status >= 400 && e.status < 500) ||
      (e instanceof ServiceError && e.code === "bad-request");
    const usage = e instanceof UsageError || e instanceof ArgumentError ||
      e instanceof ConfigError;
    return usage || refused ? 2 : 1;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
