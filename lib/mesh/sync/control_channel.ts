/**
 * The mesh's control channel: control messages to and from other members' overlay addresses on
 * the control port, through the agent's control stack. Probes are answered here for every role;
 * the leader's service and a node's sync get the other messages.
 * @module
 */

import type { UserspaceStack } from "../../../drivers/userspace.ts";
import type { Logger } from "../../log/logger.ts";
import { CONTROL_PORT } from "../../members/ports.ts";
import { type ControlMessage, parseMessage, Prober, sendEncoded, sendMessage } from "./protocol.ts";

/** What the leader's service and a node's sync use of the channel. */
export type ControlPort = Pick<ControlChannel, "send" | "listen">;

/**
 * The channel as the leader's fan-out uses it: also sends bytes encoded once for many members
 * (`encodeMessage`), not a message stringified per recipient.
 */
export type EncodedControlPort = ControlPort & Pick<ControlChannel, "sendEncoded">;

/** Sends and receives control messages. See the module docs. */
export class ControlChannel {
  /** Probes members through the tunnel and answers their probes. */
  readonly prober: Prober;
  readonly #stack: UserspaceStack;
  readonly #logger: Logger;
  readonly #handlers = new Set<(msg: ControlMessage, from: string) => void>();
  #bound = false;
  #malformed = 0;

  /** A channel over the agent's control stack. */
  constructor(stack: UserspaceStack, logger: Logger) {
    this.#stack = stack;
    this.#logger = logger;
    this.prober = new Prober(stack);
  }

  /** Sends a message to an overlay address; a failure only delays the next round, so it is not fatal. */
  send(address: string, msg: ControlMessage): void {
    try {
      sendMessage(this.#stack, address, msg);
    } catch (e) {
      this.#logger.debug("control send failed", { to: address, error: String(e) });
    }
  }

  /** Sends a message encoded already (`encodeMessage`); a failure is as `send`'s. */
  sendEncoded(address: string, bytes: Uint8Array): void {
    try {
      sendEncoded(this.#stack, address, bytes);
    } catch (e) {
      this.#logger.debug("control send failed", { to: address, error: String(e) });
    }
  }

  /**
   * Hands every well-formed message that is not probe traffic to `handler`, with its sender.
   * Several parts may listen (the sync, the paths); each gets every message. Returns the
   * function that stops this handler.
   */
  listen(handler: (msg: ControlMessage, from: string) => void): () => void {
    // One socket on the port, bound at the first listener: the stack allows one per port.
    if (this.#handlers.size === 0 && !this.#bound) {
      this.#bound = true;
      this.#stack.listen(CONTROL_PORT, (data, from) => {
        const msg = parseMessage(data);
        // Counted, not logged: any member (or a forged sender in its range) can send these.
        if (!msg) return void this.#malformed++;
        if (this.prober.handle(msg, from.address)) return;
        for (const h of this.#handlers) h(msg, from.address);
      });
    }
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  /** Datagrams on the control port dropped because they are no control message (or over a bound). */
  get malformed(): number {
    return this.#malformed;
  }

  /** Fails the probes in flight. */
  close(): void {
    this.prober.close();
  }
}
