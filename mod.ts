/**
 * weft: an encrypted, WireGuard-compatible overlay mesh in TypeScript.
 *
 * This entry holds what embedding an agent takes: {@link Agent} (one interface),
 * {@link MeshAgent} (a node of a mesh), keys, the configuration loader and logging. The parts
 * have entries of their own: `@weft/weft/agent`, `/mesh`, `/services`, `/control` (drive a
 * running agent), `/device`, `/drivers`, `/crypto`, `/config`, `/dns`, `/policy`, `/status`,
 * `/uapi` and `/demo`.
 *
 * @example Two agents in one program, talking over loopback in userspace mode
 * ```ts run
 * import { Agent, generateKeyPair } from "@weft/weft";
 *
 * const a = generateKeyPair(), b = generateKeyPair();
 * const agentA = await Agent.start({
 *   privateKey: a.privateKey, addresses: ["10.9.0.1/24"], listenPort: 52001, mode: "userspace",
 *   peers: [{ publicKey: b.publicKey, endpoint: "127.0.0.1:52002", allowedIps: ["10.9.0.2/32"] }],
 * });
 * const agentB = await Agent.start({
 *   privateKey: b.privateKey, addresses: ["10.9.0.2/24"], listenPort: 52002, mode: "userspace",
 *   peers: [{ publicKey: a.publicKey, endpoint: "127.0.0.1:52001", allowedIps: ["10.9.0.1/32"] }],
 * });
 * const received = new Promise<string>((resolve) => {
 *   const port = agentB.listen(7000, (d) => {
 *     port.close();
 *     resolve(`${d.address} ${new TextDecoder().decode(d.data)}`);
 *   });
 * });
 * const { rtts } = await agentA.ping("10.9.0.2", { timeoutMs: 5000 }); // the first one handshakes
 * console.log(rtts[0] !== null); // prints: true
 * agentA.send("10.9.0.2", 7000, new TextEncoder().encode("hello"));
 * console.log(await received); // prints: 10.9.0.1 hello
 * await agentA.close();
 * await agentB.close();
 * ```
 * @module
 */

export {
  Agent,
  type AgentMode,
  type AgentOptions,
  type MeshDatagram,
  type PeerPath,
  type PingResult,
  type UnderlayKind,
} from "./lib/agent/mod.ts";
export {
  JoinError,
  LeaderError,
  MeshAgent,
  type MeshOptions,
  meshOptionsFromConfig,
  meshRoleFromConfig,
} from "./lib/mesh/mod.ts";
export {
  encodeKey,
  generateKeyPair,
  generatePresharedKey,
  generatePrivateKey,
  parseKey,
  publicKeyOf,
} from "./lib/crypto/mod.ts";
export {
  type AgentConfig,
  type AgentFlags,
  ConfigError,
  loadAgentConfig,
  type LoadAgentConfigOptions,
} from "./lib/config/mod.ts";
export {
  createLogger,
  type LogFields,
  type LogFormat,
  type Logger,
  type LoggerOptions,
  type LogLevel,
  type LogSink,
  nullLogger,
} from "./lib/log/logger.ts";
export { VERSION } from "./lib/version.ts";
