/**
 * The agent: one WireGuard-compatible interface (a device, its transports, the userspace stack or
 * a TUN) run from options or from a wg-quick file, with wg-quick's hooks and weft's V8 flags.
 *
 * @example An agent in userspace mode, listening on a UDP port of the overlay
 * ```ts
 * import { Agent } from "@weft/weft/agent";
 * import { generateKeyPair } from "@weft/weft/crypto";
 *
 * const { privateKey } = generateKeyPair();
 * const agent = await Agent.start({ privateKey, addresses: ["10.9.0.1/24"], listenPort: 0 });
 * agent.listen(7000, (d) => console.log(d.address, new TextDecoder().decode(d.data)));
 * await agent.close();
 * ```
 * @module
 */

export {
  Agent,
  type AgentMode,
  type AgentOptions,
  type AgentParts,
  type ControlledAgent,
  type MeshDatagram,
  type NodeIdentity,
  type PeerIdentity,
  type PingResult,
  type ProbeFn,
  type UnderlayKind,
} from "./agent.ts";
export { JIT_V8_FLAGS, JIT_V8_FLAGS_ARG } from "./jit.ts";
export {
  agentOptionsFromWgQuick,
  checkWgQuickSupport,
  type WgQuickAgentOptions,
  type WgQuickRunContext,
} from "./wgquick_agent.ts";
export { runningWgQuickConfig, WgQuickUp, type WgQuickUpOptions } from "./wgquick_up.ts";
export { HookError, type HookStage } from "./hooks.ts";
