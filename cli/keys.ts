/**
 * `weft genkey|genpsk|pubkey`, as wg's.
 * @module
 */

import type { Command } from "npm:@commander-js/extra-typings@^15.1.0";
import {
  encodeKey,
  generatePresharedKey,
  generatePrivateKey,
  parseKey,
  publicKeyOf,
} from "../lib/crypto/mod.ts";
import { UsageError } from "./errors.ts";
import { readStdin } from "./process.ts";

/** Adds `weft genkey|genpsk|pubkey` to `program`. */
export function addKeyCommands(program: Command): void {
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
