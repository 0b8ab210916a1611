/**
 * The error of every configuration reader (the agent's YAML file and flags, wg-quick files):
 * what is wrong, and where, by file and line when known.
 * @module
 */

/** An invalid configuration file, located by file name (when known) and 1-based line. */
export class ConfigError extends Error {
  /** The file the error is in, when the text came from a file. */
  readonly file?: string;
  /** The 1-based line number, when the error is about one line. */
  readonly line?: number;
  /** What is wrong, without the location. */
  readonly reason: string;

  /** Builds the message as `file:line: reason`, leaving out what is unknown. */
  constructor(reason: string, where: { file?: string; line?: number } = {}) {
    const place = [where.file, where.line === undefined ? undefined : `line ${where.line}`]
      .filter((p) => p !== undefined).join(", ");
    super(place === "" ? reason : `${place}: ${reason}`);
    this.name = "ConfigError";
    this.file = where.file;
    this.line = where.line;
    this.reason = reason;
  }
}
