/**
 * The free memory glibc's malloc keeps in its arenas, handed back to the system.
 *
 * V8 keeps an ArrayBuffer's bytes in malloc's memory, freed when the collector finds the buffer
 * dead: a leader of 10,000 members makes tens of MiB of such garbage in a second (a `/metrics`
 * page of 29 MB and its chunks, snapshots' parts, a node list), and the frees come at the next
 * collection, all at once. malloc returns memory to the system only from the top of an arena;
 * freed chunks below a chunk still in use (a key's context made meanwhile) stay resident, so the
 * arena keeps the height of every such wave. Traced in the fleet bench at 10,000
 * (`scripts/bench/fleet.ts --members 10000`): the main arena held 540 MiB of which 200 to 300
 * were free, a quarter of the leader's RSS (docs/performance.md, "The leader's keys and its
 * malloc arena").
 *
 * {@link ArenaTrim} calls `malloc_trim(0)` (which gives back every whole free page, in any arena,
 * with `madvise`) once `mallinfo2()` counts {@link TRIM_FREE_BYTES} free (and that much more than after its last
 * trim), at most once a
 * {@link TRIM_EVERY_MS}. An agent whose arenas hold less free (a member, a few MiB) never trims; a
 * leader of 10,000 trims in 2.5 ms (p50; 12 ms at most), some 0.1 % of a core. Pages given back
 * cost a page fault each when malloc uses them again.
 *
 * Linux with glibc 2.33 or newer only (`mallinfo2`); elsewhere {@link startArenaTrim} does
 * nothing.
 * @module
 */

import { openFirstLibrary } from "../crypto/ffi_open.ts";
import { SharedInterval } from "./shared_interval.ts";

/** Trim once the arenas hold this much free memory, bytes. */
export const TRIM_FREE_BYTES = 32 * 1024 * 1024;
/** Look (and trim, if due) this often, ms. */
export const TRIM_EVERY_MS = 5_000;

/** What an {@link ArenaTrim} works with (glibc's by default; fakes in tests). */
export interface ArenaCalls {
  /** Bytes free in malloc's arenas (`mallinfo2().fordblks`). */
  free(): number;
  /** Gives the arenas' whole free pages back (`malloc_trim(0)`). */
  trim(): void;
}

/** Decides when to trim; see the module docs. */
export class ArenaTrim {
  readonly #c: ArenaCalls;
  /** Trims run. */
  trims = 0;

  /** A trim over `c`; nothing runs until {@link check}. */
  constructor(c: ArenaCalls) {
    this.#c = c;
  }

  // The least free seen since the last trim: a trim hands pages back with madvise and leaves
  // their chunks free, so the count stays high after it; only what was freed since is news.
  #floor = 0;

  /**
   * Looks at the arenas and trims if they hold {@link TRIM_FREE_BYTES} free and that much more
   * than the least seen since the last trim; true when it did.
   */
  check(): boolean {
    const free = this.#c.free();
    if (free < this.#floor) this.#floor = free;
    if (free < TRIM_FREE_BYTES || free - this.#floor < TRIM_FREE_BYTES) return false;
    this.#c.trim();
    this.trims++;
    this.#floor = this.#c.free();
    return true;
  }
}

let calls: ArenaCalls | null | undefined;

/** glibc's `mallinfo2` and `malloc_trim`, or null (not Linux, not glibc 2.33+, no FFI). */
export function glibcArenaCalls(): ArenaCalls | null {
  if (calls !== undefined) return calls;
  if (Deno.build.os !== "linux") return calls = null;
  try {
    // Through openFirstLibrary: no FFI permission is no trim, never a prompt.
    const lib = openFirstLibrary(
      ["libc.so.6"],
      {
        // struct mallinfo2: ten size_t; fordblks (free bytes) is the ninth.
        mallinfo2: { parameters: [], result: { struct: Array(10).fill("usize") } },
        malloc_trim: { parameters: ["usize"], result: "i32" },
      } as const,
      () => true,
    );
    if (lib === null) return calls = null;
    const s = lib.symbols;
    return calls = {
      free: () => {
        const info = s.mallinfo2() as Uint8Array;
        return Number(new DataView(info.buffer, info.byteOffset, 80).getBigUint64(64, true));
      },
      trim: () => void s.malloc_trim(0n),
    };
  } catch {
    return calls = null; // musl, an older glibc, or no FFI permission
  }
}

const shared = new SharedInterval(TRIM_EVERY_MS, () => {
  const c = glibcArenaCalls();
  if (c === null) return null;
  const trim = new ArenaTrim(c);
  return () => void trim.check();
});

/**
 * Starts the process's arena trim (one per process, however many agents start it); the returned
 * function stops this user's share. A no-op where {@link glibcArenaCalls} is null.
 */
export function startArenaTrim(): () => void {
  return shared.start();
}
