import assert from "node:assert/strict";
import {
  parseBootTime,
  parseMaxFds,
  parseProcStat,
  processCollector,
  type ProcessFigures,
  readProcessFigures,
} from "./process.ts";
import { MetricsRegistry } from "./registry.ts";
import { parsePrometheus } from "../../tests/fixtures/prom_parse.ts";

// A stat line whose command holds a space and a parenthesis, as a thread name may.
const STAT = "4242 (we ft) (x) S 1 4242 4242 0 -1 4194560 2000 0 0 0 250 75 0 0 20 0 9 0 " +
  "123400 3133440000 25000 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0";

Deno.test("process figures: /proc/self/stat read past a command with spaces and parentheses", () => {
  const p = parseProcStat(STAT, 1_700_000_000);
  assert.deepEqual(p, {
    cpuSeconds: { user: 2.5, system: 0.75 },
    virtualBytes: 3_133_440_000,
    residentBytes: 25_000 * 4096,
    startTimeSeconds: 1_700_000_000 + 1234,
  });
  assert.equal(parseProcStat("garbage", 0), null);
  assert.equal(parseProcStat("1 (x) S 1 2", 0), null);
});

Deno.test("process figures: boot time and the open files limit", () => {
  assert.equal(parseBootTime("cpu 1 2 3\nbtime 1764000000\nprocesses 9\n"), 1_764_000_000);
  assert.equal(parseBootTime("cpu 1 2 3\n"), null);
  const limits = "Limit                     Soft Limit           Hard Limit           Units\n" +
    "Max open files            1024                 524288               files\n";
  assert.equal(parseMaxFds(limits), 1024);
  assert.equal(parseMaxFds(limits.replace("1024 ", "unlimited")), null);
  assert.equal(parseMaxFds(""), null);
});

Deno.test("process figures: this process, read from /proc where it is there", async () => {
  const before = readProcessFigures();
  assert.ok(before.residentBytes > 1_000_000);
  assert.ok(before.heap.used > 0 && before.heap.total >= before.heap.used);
  if (Deno.build.os !== "linux") return;
  assert.ok(before.virtualBytes! >= before.residentBytes);
  assert.ok(before.startTimeSeconds! <= Date.now() / 1000 + 1);
  assert.ok(before.startTimeSeconds! > Date.now() / 1000 - 24 * 3600);
  // A file opened is one more descriptor; closed, one fewer. The runtime's own threads open and
  // close descriptors too (CI saw one close between the two reads), so a few tries are allowed:
  // a count that does not follow the file never shows the step.
  const steps: number[] = [];
  for (let i = 0; i < 5 && steps.at(-1) !== -1; i++) {
    const f = await Deno.open(Deno.execPath());
    const open = readProcessFigures().openFds!;
    f.close();
    steps.push(readProcessFigures().openFds! - open);
  }
  assert.equal(steps.at(-1), -1, `steps seen: ${steps.join(", ")}`);
  // CPU time is spent while the loop runs.
  const t0 = before.cpuSeconds!.user + before.cpuSeconds!.system;
  // The loop runs at least once: the clock may have ticked past t0 before it starts (a busy
  // machine), and x must still show that work was done.
  let x = 0;
  let cpu: { user: number; system: number };
  do {
    for (let i = 0; i < 1e6; i++) x += i;
    cpu = readProcessFigures().cpuSeconds!;
  } while (cpu.user + cpu.system <= t0);
  assert.ok(x > 0);
});

Deno.test("process figures: the Prometheus families, /proc's left out where it is not there", () => {
  const full: ProcessFigures = {
    residentBytes: 100,
    virtualBytes: 200,
    cpuSeconds: { user: 1.5, system: 0.5 },
    openFds: 12,
    maxFds: 1024,
    startTimeSeconds: 1_700_000_000,
    heap: { used: 10, total: 20, external: 5, malloced: 3 },
  };
  const r = new MetricsRegistry();
  r.register(processCollector(() => full));
  const page = parsePrometheus(r.render());
  const value = (name: string) => page.samples.find((s) => s.name === name)?.value;
  assert.equal(value("process_resident_memory_bytes"), 100);
  assert.equal(value("process_virtual_memory_bytes"), 200);
  assert.equal(value("process_cpu_seconds_total"), 2);
  assert.equal(value("process_open_fds"), 12);
  assert.equal(value("process_max_fds"), 1024);
  assert.equal(value("process_start_time_seconds"), 1_700_000_000);
  assert.equal(value("weft_heap_used_bytes"), 10);
  assert.equal(value("weft_heap_total_bytes"), 20);
  assert.equal(value("weft_heap_external_bytes"), 5);
  assert.equal(value("weft_heap_malloced_bytes"), 3);

  const bare = new MetricsRegistry();
  bare.register(processCollector(() => ({
    ...full,
    virtualBytes: null,
    cpuSeconds: null,
    openFds: null,
    maxFds: null,
    startTimeSeconds: null,
  })));
  const names = new Set(parsePrometheus(bare.render()).samples.map((s) => s.name));
  assert.deepEqual([...names].sort(), [
    "process_resident_memory_bytes",
    "weft_heap_external_bytes",
    "weft_heap_malloced_bytes",
    "weft_heap_total_bytes",
    "weft_heap_used_bytes",
  ]);
});
