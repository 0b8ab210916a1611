/**
 * The errors the command line turns into exit code 2 (bad usage or configuration).
 * @module
 */

/** A usage or configuration error: exit code 2. */
export class UsageError extends Error {}

/** A command-line argument that is not what the command takes (a usage error, exit code 2). */
export class ArgumentError extends Error {}
