/**
 * The rules for names: DNS labels and zones, node host names and Linux interface names. Each
 * `...Problem` function returns what is wrong as a phrase, or undefined when the value is fine,
 * so callers can add their own location to the message.
 * @module
 */

/** What a DNS label may hold beyond an RFC 1123 host name label. */
export interface LabelRules {
  /**
   * `_` counts as a letter: service labels (`_http`), and the names wg-quick files and the
   * membership may carry (wg reads them with the system resolver, which takes them).
   */
  underscore?: boolean;
}

/**
 * What is wrong with `text` as a single DNS label: a-z, 0-9 and inner `-` (and `_` with
 * `rules.underscore`), 1 to 63 long; undefined when it is one. Case is the caller's: it
 * lowercases first where names are case-insensitive.
 */
export function dnsLabelProblem(text: string, rules: LabelRules = {}): string | undefined {
  if (text === "") return "is empty";
  if (text.length > 63) return `is ${text.length} characters long (at most 63)`;
  if (text.includes(".")) return "must be a single label, without dots";
  if (rules.underscore) {
    if (!/^[a-z0-9_-]+$/.test(text)) return "may only hold letters, digits, '_' and '-'";
  } else if (!/^[a-z0-9-]+$/.test(text)) return "may only hold letters, digits and '-'";
  if (text.startsWith("-") || text.endsWith("-")) return "must not start or end with '-'";
  return undefined;
}

/**
 * Turns a machine host name into a DNS label: the first dotted part, lowercased, with every run of
 * other characters replaced by one `-`, trimmed of `-` and cut to 63; `node` if nothing is left.
 */
export function sanitizeHostname(name: string): string {
  const first = name.trim().split(".")[0].toLowerCase();
  const label = first.replace(/[^a-z0-9]+/g, "-").slice(0, 63).replace(/^-+|-+$/g, "");
  return label === "" ? "node" : label;
}

/**
 * What is wrong with `text` as a DNS zone (lowercase labels separated by dots, an optional final
 * dot, at most 253 characters without it).
 */
export function dnsZoneProblem(text: string, rules: LabelRules = {}): string | undefined {
  const bare = text.endsWith(".") ? text.slice(0, -1) : text;
  if (bare === "") return "needs at least one label (the root zone is not allowed)";
  if (bare.length > 253) return `is ${bare.length} characters long (at most 253)`;
  for (const label of bare.split(".")) {
    if (label === "") return "has an empty label (two dots in a row)";
    const p = dnsLabelProblem(label, rules);
    if (p !== undefined) return `label ${JSON.stringify(label)} ${p}`;
  }
  return undefined;
}

/**
 * What is wrong with `name` as a Linux network interface name. The kernel (dev_valid_name) takes
 * 1 to 15 bytes (IFNAMSIZ 16 with the NUL), not `.` or `..`, without `/`, `:` or whitespace; `%`
 * is refused too because the kernel treats it as a numbering template, and non-printable or
 * non-ASCII characters because they make names unreadable in `ip link`.
 */
export function interfaceNameProblem(name: string): string | undefined {
  if (name === "") return "is empty";
  if (name === "." || name === "..") return `cannot be ${JSON.stringify(name)}`;
  if (!/^[\x21-\x7e]+$/.test(name)) {
    return "may only hold printable ASCII characters without spaces";
  }
  const bad = /[/:%]/.exec(name);
  if (bad) return `must not contain ${JSON.stringify(bad[0])}`;
  if (name.length > 15) return `is ${name.length} characters long (Linux allows at most 15)`;
  return undefined;
}

/**
 * Whether `host` is a DNS host name, in any case, with an optional final dot (an all-digit
 * dotted string is a mistyped IPv4 address, not a name).
 */
export function isDnsName(host: string, rules: LabelRules = {}): boolean {
  return !/^[0-9.]+$/.test(host) && dnsZoneProblem(host.toLowerCase(), rules) === undefined;
}
