/**
 * A bench stopped by SIGTERM (`destroyLabsOnSignal`) removes its lab: the processes it started
 * in the namespaces and the namespaces themselves, and exits 143.
 */
import assert from "node:assert/strict";
import { canBuildLabs, eventually, HANG_GUARD_MS } from "../fixtures/netns.ts";

const CHILD = new URL("../fixtures/lab_signal_child.ts", import.meta.url).pathname;

async function namespaces(): Promise<string[]> {
  const out = await new Deno.Command("ip", { args: ["netns", "list"], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).split("\n").map((l) => l.split(" ")[0]);
}

function alive(pid: number): boolean {
  try {
    return !Deno.readTextFileSync(`/proc/${pid}/stat`).split(" ")[2].startsWith("Z");
  } catch {
    return false;
  }
}

Deno.test({
  name: "destroyLabsOnSignal: SIGTERM kills the lab's processes and deletes its namespaces",
  ignore: !(await canBuildLabs()),
  fn: async () => {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", CHILD],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    const { namespaces: made, pid } = JSON.parse(text) as { namespaces: string[]; pid: number };
    try {
      assert.equal(made.length, 2, `the switch and host a: ${text}`);
      assert.ok(alive(pid), "the sleeper runs");
      child.kill("SIGTERM");
      const status = await child.status;
      assert.equal(status.code, 143);
      assert.match(await stderr, /SIGTERM: removing 1 lab\(s\) before exiting/);
      assert.ok(!alive(pid), "the sleeper is gone");
      const left = await namespaces();
      for (const ns of made) assert.ok(!left.includes(ns), `${ns} deleted`);
    } finally {
      reader.releaseLock();
      await child.stdout.cancel().catch(() => {});
      await stderr.catch(() => "");
      // Whatever the outcome, nothing of it stays.
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      for (const ns of made) {
        await new Deno.Command("ip", { args: ["netns", "del", ns], stderr: "null" }).output();
      }
      try {
        if (alive(pid)) Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
      await eventually(() => Promise.resolve(!alive(pid)), HANG_GUARD_MS);
    }
  },
});
