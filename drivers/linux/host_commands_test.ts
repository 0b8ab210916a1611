import assert from "node:assert/strict";
import { type CommandResult, HostCommands, type SysctlFiles } from "./host_commands.ts";

const files: SysctlFiles = { read: () => Promise.resolve("0\n"), write: () => Promise.resolve() };

Deno.test("HostCommands.must: a failed command's error names it and gives its stderr", async () => {
  const calls: string[][] = [];
  const host = new HostCommands({
    run: (cmd, args): Promise<CommandResult> => {
      calls.push([cmd, ...args]);
      return Promise.resolve({ code: 2, stdout: "", stderr: "RTNETLINK answers: File exists\n" });
    },
    sysctl: files,
  });
  await assert.rejects(
    host.must("ip", ["-4", "rule", "add"], "unused"),
    new Error("ip -4 rule add: RTNETLINK answers: File exists"),
  );
  assert.deepEqual(calls, [["ip", "-4", "rule", "add"]]);
  assert.equal(host.sysctl, files, "the sysctl files given are the ones used");
});

Deno.test("HostCommands.must: no stderr gives the exit code; success is quiet", async () => {
  let code = 3;
  const host = new HostCommands({
    run: () => Promise.resolve({ code, stdout: "", stderr: " \n" }),
  });
  await assert.rejects(host.must("iptables", ["-w", "-N", "X"], "unused"), {
    message: "iptables -w -N X: exit 3",
  });
  code = 0;
  await host.must("iptables", ["-w", "-N", "X"], "unused");
});

Deno.test("HostCommands.must: a program not installed gives the caller's words", async () => {
  const host = new HostCommands({ run: () => Promise.reject(new Deno.errors.NotFound("ip")) });
  await assert.rejects(host.must("ip", ["route"], "needs iproute2: install it"), {
    message: "needs iproute2: install it",
  });
  const other = new HostCommands({ run: () => Promise.reject(new Deno.errors.PermissionDenied()) });
  await assert.rejects(other.must("ip", ["route"], "unused"), Deno.errors.PermissionDenied);
});

Deno.test("HostCommands.serial: calls run one after another, in order", async () => {
  const host = new HostCommands({ run: () => Promise.reject(new Error("not run")) });
  const order: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const first = host.serial(async () => {
    order.push("first starts");
    await gate;
    order.push("first ends");
    throw new Error("first failed");
  });
  const second = host.serial(() => {
    order.push("second");
    return Promise.resolve(2);
  });
  await Promise.resolve();
  release();
  await assert.rejects(first, { message: "first failed" });
  assert.equal(await second, 2, "an earlier failure does not stop the queue");
  assert.deepEqual(order, ["first starts", "first ends", "second"]);
});
