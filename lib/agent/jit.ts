/**
 * V8 flags for weft's processes: tier-up thresholds that optimise the data path after a few
 * packets rather than a few thousand, and a small young generation and sooner full collections
 * that keep memory down.
 *
 * V8 compiles a function with its optimising compilers (Maglev, then TurboFan) only after it has
 * run hundreds to thousands of times. A fresh tunnel's first pings therefore run weft's per-packet
 * code unoptimised, each step 2 to 4 times slower (`scripts/bench/latency.ts --trace`): on this
 * machine a fresh tunnel answered pings in 0.61 ms against wireguard-go's 0.36 ms, and in 0.33 ms
 * with these thresholds (docs/performance.md, "Latency: V8's tier-up"); TCP throughput and CPU per GB did not move. The cost
 * is about 10 MB more memory at start (more code compiled early). Every function is compiled to
 * Sparkplug's baseline code when first compiled, not after (docs/performance.md, "Latency: the
 * tail of an idle tunnel").
 *
 * V8 grows its young generation (its semi-spaces) well beyond this once a burst of
 * allocation (a 10,000-member view arriving, thousands of joins) asks for it, and keeps it
 * committed after the burst: a member that knew 10,000 others held 359 MiB of RSS with 65 MiB of
 * live heap. With semi-spaces of 2 MiB it held 156 MiB (109 MiB knowing 20), and the data path
 * did not move (weft TCP 2,442 against 2,311 Mbit/s, 5.3 against 5.7 CPU-s per GB, one run each
 * of `scripts/bench/net.ts`): the per-packet path allocates almost nothing, so scavenges stay
 * rare (docs/performance.md, "A member that knows many").
 *
 * V8 also lets its old generation grow well past what is live before a full collection: a
 * leader joining 10,000 members, 300 MiB of them live, peaked at 883-1,046 MiB of RSS
 * (`scripts/bench/fleet.ts --members 10000 --hubs 10`, three runs), the garbage of its
 * per-change work (views, indexes, the policy compiled anew) piling up ahead of a collection.
 * With `--heap-growing-percent=50` (a full collection once the heap grew by half) it peaked at
 * 546 MiB for 12 % more leader CPU in that bench, joins and changes as fast within noise; at 25,
 * 526 MiB for 25 % more. The data path allocates almost nothing per packet and did not move
 * (docs/performance.md, "A fleet on one leader").
 *
 * V8 lets a busy member's old generation fill with the garbage its data path promotes (about
 * 2 MiB a minute at 300 Mbit/s) up to that half before it collects, its memory reducer idle
 * while allocation stays high: `--expose-gc` lets the agent collect it itself at a bounded step
 * (lib/agent/heap_trim.ts, the soak's figures there and in scripts/bench/soak.ts).
 *
 * They go on the command line: `deno task start`/`demo`, `deno task install` (into the `weft`
 * command it writes) and `deno task compile` (baked into the binary) pass them, as does every
 * weft a weft starts ({@link ../demo/self.ts}); a program embedding weft passes
 * {@link JIT_V8_FLAGS_ARG} to `deno run` itself.
 * @module
 */

/** The V8 flags, each `--name=value`. */
export const JIT_V8_FLAGS: readonly string[] = [
  // Maglev (the fast optimising tier) after 2 calls instead of 400.
  "--invocation-count-for-maglev=2",
  // TurboFan after 10 instead of 3,000.
  "--invocation-count-for-turbofan=10",
  // Do not hold a function back for 500 calls after its inline caches change.
  "--minimum-invocations-after-ic-update=2",
  // Loops (the poll loop) optimised on the stack sooner.
  "--invocation-count-for-osr=20",
  // A function's first compile is Sparkplug's baseline code, made there and then on the JS thread,
  // instead of bytecode interpreted until a compile job on V8's workers gets a core (they were
  // under SCHED_IDLE then, lib/agent/v8_workers.ts): on a loaded machine a fresh tunnel's first
  // pings ran interpreted for seconds. About 3 MB more resident.
  "--always-sparkplug",
  // Semi-spaces of 2 MiB at most: the young generation a burst grows stays small.
  "--max-semi-space-size=2",
  // A full collection once the old generation grew by half, not by V8's up to fourfold.
  "--heap-growing-percent=50",
  // V8's `gc`, for the agent's heap trim (lib/agent/heap_trim.ts): the garbage a busy data path
  // promotes is collected at a bounded step, not only at the half.
  "--expose-gc",
];

/**
 * The flags as one `deno run`/`deno compile` argument.
 *
 * @example
 * ```ts run
 * import { JIT_V8_FLAGS_ARG } from "@weft/weft/agent";
 * // As `deno run -A <flags> my_mesh.ts` would start a program that embeds weft.
 * const { stdout } = await new Deno.Command(Deno.execPath(), {
 *   args: ["eval", JIT_V8_FLAGS_ARG, "console.log('started')"],
 * }).output();
 * console.log(new TextDecoder().decode(stdout).trim()); // prints: started
 * ```
 */
export const JIT_V8_FLAGS_ARG = `--v8-flags=${JIT_V8_FLAGS.join(",")}`;
