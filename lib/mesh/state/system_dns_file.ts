/**
 * The state directory's record of what `--accept-dns` changed in the host's resolver
 * (`system-dns.json`): written atomically before the host is touched, removed once it is put
 * back, and read at the next start to undo what a crashed run left.
 * @module
 */

import { readJsonFile, writeFileAtomic } from "../../config/atomic.ts";
import {
  type SavedSystemDns,
  SYSTEM_DNS_MODES,
  type SystemDnsKeep,
  type SystemDnsMode,
} from "../../net/system_dns.ts";

/** The file's name in the state directory. */
export const SYSTEM_DNS_FILE = "system-dns.json";

/** A {@link SystemDnsKeep} in one JSON file, mode 0600. */
export class SystemDnsFile implements SystemDnsKeep {
  readonly #path: string;

  /** The record kept at `path` (the state directory's {@link SYSTEM_DNS_FILE}). */
  constructor(path: string) {
    this.#path = path;
  }

  /** The record, null when there is none; throws naming the file when it cannot be used. */
  async load(): Promise<SavedSystemDns | null> {
    let raw: unknown;
    try {
      raw = await readJsonFile(this.#path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return null;
      throw e;
    }
    const saved = parseSaved(raw);
    if (saved === null) {
      throw new Error(`${this.#path}: not a record of the host's resolver weft changed`);
    }
    return saved;
  }

  /** Replaces the record atomically. */
  async save(saved: SavedSystemDns): Promise<void> {
    await writeFileAtomic(this.#path, JSON.stringify(saved) + "\n", { mode: 0o600 });
  }

  /** Removes the record; none is no error. */
  async clear(): Promise<void> {
    await Deno.remove(this.#path).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The record in `raw`, or null when it is not one. */
export function parseSaved(raw: unknown): SavedSystemDns | null {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return null;
  const r = raw as Record<string, unknown>;
  if (!SYSTEM_DNS_MODES.includes(r.mode as SystemDnsMode)) return null;
  if (typeof r.iface !== "string" || !/^[A-Za-z0-9_.:-]{1,15}$/.test(r.iface)) return null;
  const out: SavedSystemDns = { mode: r.mode as SystemDnsMode, iface: r.iface };
  if (out.mode === "resolvconf") {
    if (typeof r.record !== "string" || !/^[A-Za-z0-9_.:-]{1,64}$/.test(r.record)) return null;
    out.record = r.record;
  }
  if (out.mode === "file") {
    for (const k of ["path", "original", "written"] as const) {
      if (typeof r[k] !== "string") return null;
    }
    if (!(r.path as string).startsWith("/")) return null;
    if (!BASE64.test(r.original as string) || !BASE64.test(r.written as string)) return null;
    out.path = r.path as string;
    out.original = r.original as string;
    out.written = r.written as string;
  }
  return out;
}
