/**
 * The errors the command line turns into exit code 2 (bad usage or configuration).
 * @module
 */

/** A usage or configuration error: exit code 2. */
export class UsageError extends Error {}

/** A command-line argument that is not what the command takes (a usage error, exit code 2). */
export class ArgumentError extends Error {}

/**
 * A TUN device refused for want of privileges (EPERM, EACCES from the TUN driver) with the way
 * out a user without root has: `--userspace`, which needs no TUN device. Anything else as it is.
 */
export function withUserspaceHint(e: unknown): unknown {
  const errno = (e as { errno?: unknown } | null)?.errno;
  if (!(e instanceof Error) || (errno !== 1 && errno !== 13)) return e;
  if (!/\/dev\/net\/tun|TUNSETIFF/.test(e.message)) return e;
  return new Error(`${e.message}; without root, run with --userspace (no TUN device needed)`);
}
