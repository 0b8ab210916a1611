/**
 * An agent's crypto workers (`cryptoWorkers`, `--crypto-workers N|auto`): how many, and starting
 * them as a crypto batch (lib/device/crypto_batch.ts) on a pool of N workers (none for N = 0).
 * Workers the user asked for by number that cannot start stop the agent with the cause; workers
 * `auto` chose are an optimisation, so a pool of those that cannot start is logged and the agent
 * seals inline. A worker that dies later leaves the agent sealing and opening inline, with an
 * error logged: the tunnel keeps working.
 * @module
 */

import type { Logger } from "../log/logger.ts";
import { CryptoBatch } from "../device/crypto_batch.ts";

/** The most crypto workers an agent takes. */
export const MAX_CRYPTO_WORKERS = 64;

/**
 * What `auto` starts where workers pay: 2. Measured in the network lab on a 2-core machine
 * (docs/performance.md, "Crypto workers"): on the idle machine none carried more TCP than 2, at
 * less CPU per GB (the two agents and the kernel already fill both cores), while on a busy one 2
 * carried more; so `auto` starts them only where a core is left for them ({@link AUTO_MIN_CORES}).
 */
export const AUTO_CRYPTO_WORKERS = 2;

/** The fewest cores on which `auto` starts workers: one for the data path, two for the workers, one for the kernel. */
export const AUTO_MIN_CORES = 4;

/** What decides `auto`. */
export interface CryptoWorkersContext {
  /** The agent runs a TUN (where the batches are large; not the userspace stack). */
  tun: boolean;
  /** The AEAD backend's name: workers need `sodium`. */
  aead: string;
  /** CPU cores (navigator.hardwareConcurrency). */
  cores: number;
}

/**
 * The worker count for a setting: `auto` is {@link AUTO_CRYPTO_WORKERS} with a TUN, libsodium
 * and {@link AUTO_MIN_CORES} cores or more, else 0; a number is checked ({@link checkCryptoWorkers}) and kept.
 */
export function resolveCryptoWorkers(
  setting: number | "auto",
  ctx: CryptoWorkersContext,
): number {
  if (setting === "auto") {
    return ctx.tun && ctx.aead === "sodium" && ctx.cores >= AUTO_MIN_CORES
      ? AUTO_CRYPTO_WORKERS
      : 0;
  }
  checkCryptoWorkers(setting, ctx.aead);
  return setting;
}

/**
 * Checks a worker count against the AEAD backend: 0 to {@link MAX_CRYPTO_WORKERS}, and more
 * than 0 only on libsodium (the workers call it). Throws a message naming what is wrong.
 */
export function checkCryptoWorkers(workers: number, aead: string): void {
  if (!Number.isInteger(workers) || workers < 0 || workers > MAX_CRYPTO_WORKERS) {
    throw new RangeError(`crypto workers must be 0 to ${MAX_CRYPTO_WORKERS}, got ${workers}`);
  }
  if (workers > 0 && aead !== "sodium") {
    throw new Error(`crypto workers need the sodium backend (libsodium); this agent uses ${aead}`);
  }
}

/**
 * The batch for `workers` crypto workers: null for none, or when `auto` chose them (`required`
 * false) and they cannot start. When `required` (the count was asked for), a pool that cannot
 * start throws an Error naming the cause.
 */
export async function startCryptoWorkers(
  workers: number,
  mtu: number,
  logger: Logger,
  required = false,
  start: typeof CryptoBatch.start = (o) => CryptoBatch.start(o),
): Promise<CryptoBatch | null> {
  if (workers === 0) return null;
  try {
    const batch = await start({
      workers,
      mtu,
      onError: (e) =>
        logger.error("crypto workers failed: sealing and opening on the main thread from now on", {
          error: e.message,
        }),
    });
    logger.info("crypto workers started", { workers });
    return batch;
  } catch (e) {
    const error = e instanceof Error ? e.message : String(e);
    if (required) throw new Error(`${workers} crypto workers could not start: ${error}`);
    logger.error("crypto workers did not start: sealing and opening on the main thread", {
      workers,
      error,
    });
    return null;
  }
}
