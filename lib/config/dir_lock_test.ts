import assert from "node:assert/strict";
import { DirLock, DirLockedError, LOCK_LIST_READS, lockHeld } from "./dir_lock.ts";
import { tempDirs } from "../../tests/fixtures/temp_dir.ts";

const LOCK_URL = new URL("./dir_lock.ts", import.meta.url).href;

const withTempDir = tempDirs("weft-lock-");

/**
 * Another process holding the lock on `dir`: it says `locked` once it holds it, releases it on
 * `release` (and says `released`), and otherwise runs until killed.
 */
class Holder {
  readonly child: Deno.ChildProcess;
  readonly #lines: AsyncIterator<string>;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;

  constructor(dir: string) {
    const code = `
      import { DirLock } from ${JSON.stringify(LOCK_URL)};
      const lock = await DirLock.acquire(${JSON.stringify(dir)});
      console.log(lock.enforced ? "locked" : "not enforced");
      for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
        if (chunk.includes("release")) {
          lock.release();
          console.log("released");
        }
      }
      await new Promise(() => {}); // stdin closed: hold on until killed
    `;
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["eval", "--no-config", code],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#stdin = this.child.stdin.getWriter();
    this.#lines = this.child.stdout.pipeThrough(new TextDecoderStream()).values();
  }

  /** The next line it printed. */
  async said(): Promise<string> {
    const r = await this.#lines.next();
    assert.ok(!r.done, "the holder exited");
    return r.value.trim();
  }

  async release(): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode("release\n"));
    assert.equal(await this.said(), "released");
  }

  async kill(): Promise<void> {
    this.child.kill("SIGKILL");
    await this.child.status;
    await this.#stdin.close().catch(() => {});
    await this.#lines.return?.();
  }
}

Deno.test("a second lock on the directory in this process is refused until the first is released", async () => {
  await withTempDir(async (dir) => {
    const first = await DirLock.acquire(dir);
    assert.ok(first.enforced, first.notEnforced ?? "");
    assert.equal(first.lockFile, `${dir}/lock`);
    assert.equal(await Deno.readTextFile(`${dir}/lock`), `${Deno.pid}\n`);
    const refused = await DirLock.acquire(dir, { label: "state directory", hint: "stop it" })
      .then(() => null, (e) => e);
    assert.ok(refused instanceof DirLockedError, String(refused));
    assert.equal(refused.dir, dir);
    assert.equal(refused.pid, Deno.pid);
    assert.equal(
      refused.message,
      `state directory ${dir} is in use by another process (PID ${Deno.pid}): stop it`,
    );
    first.release();
    assert.equal(first.held, false);
    first.release(); // again: nothing
    await assert.rejects(Deno.lstat(`${dir}/lock`), Deno.errors.NotFound, "removed on release");
    {
      using again = await DirLock.acquire(dir);
      assert.ok(again.held);
    }
    // `using` released it at the end of its scope.
    (await DirLock.acquire(dir)).release();
  });
});

Deno.test("another process's lock: refused with its PID; free once it releases it", async () => {
  await withTempDir(async (dir) => {
    const holder = new Holder(dir);
    try {
      assert.equal(await holder.said(), "locked");
      const e = await DirLock.acquire(dir).then(() => null, (e) => e);
      assert.ok(e instanceof DirLockedError, String(e));
      assert.equal(e.pid, holder.child.pid);
      assert.match(e.message, new RegExp(`PID ${holder.child.pid}\\b`));
      await holder.release();
      const mine = await DirLock.acquire(dir);
      assert.equal(await Deno.readTextFile(`${dir}/lock`), `${Deno.pid}\n`);
      mine.release();
    } finally {
      await holder.kill();
    }
  });
});

Deno.test("a lock held by this process is refused to another, and free once released", async () => {
  await withTempDir(async (dir) => {
    const mine = await DirLock.acquire(dir);
    const other = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        "--no-config",
        `import { DirLock } from ${JSON.stringify(LOCK_URL)};
         try { await DirLock.acquire(${JSON.stringify(dir)}); console.log("locked"); }
         catch (e) { console.log(e.name, e.pid); }`,
      ],
      stdout: "piped",
      stderr: "inherit",
    });
    const refused = new TextDecoder().decode((await other.output()).stdout).trim();
    assert.equal(refused, `DirLockedError ${Deno.pid}`);
    mine.release();
    const after = new TextDecoder().decode((await other.output()).stdout).trim();
    assert.equal(after, "locked");
  });
});

Deno.test("the lock of a process killed with SIGKILL is free at once", {
  ignore: Deno.build.os === "windows",
}, async () => {
  await withTempDir(async (dir) => {
    const holder = new Holder(dir);
    try {
      assert.equal(await holder.said(), "locked");
      await assert.rejects(DirLock.acquire(dir), DirLockedError);
    } finally {
      await holder.kill();
    }
    // The stale PID is still in the file; the lock is not.
    assert.equal(await Deno.readTextFile(`${dir}/lock`), `${holder.child.pid}\n`);
    const mine = await DirLock.acquire(dir);
    assert.equal(await Deno.readTextFile(`${dir}/lock`), `${Deno.pid}\n`);
    mine.release();
  });
});

Deno.test("the lock file is made 0600 and removed on release, the directory left empty", {
  ignore: Deno.build.os === "windows",
}, async () => {
  await withTempDir(async (dir) => {
    const lock = await DirLock.acquire(dir, { name: "state.lock" });
    assert.equal((await Deno.stat(`${dir}/state.lock`)).mode! & 0o777, 0o600);
    lock.release();
    assert.deepEqual(await Array.fromAsync(Deno.readDir(dir)), []);
  });
});

Deno.test("lockers racing with releases that remove the file: one holder at a time", {
  ignore: Deno.build.os === "windows",
}, async () => {
  await withTempDir(async (dir) => {
    // Each release removes the file; a locker that opened it just before may lock the removed
    // file, and must then start again on the one at the path, or two would hold the lock.
    let holder: number | null = null;
    let held = 0;
    const locker = async (id: number) => {
      for (let i = 0; i < 150; i++) {
        let lock: DirLock;
        try {
          lock = await DirLock.acquire(dir);
        } catch (e) {
          if (e instanceof DirLockedError) continue;
          throw e;
        }
        assert.equal(holder, null, `${id} got the lock ${holder} holds`);
        holder = id;
        held++;
        await new Promise((r) => setTimeout(r, 0));
        holder = null;
        lock.release();
      }
    };
    await Promise.all([1, 2, 3, 4].map(locker));
    assert.ok(held > 0);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(dir)), []);
  });
});

Deno.test("a missing directory is an error, not a lock", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(DirLock.acquire(`${dir}/none`), Deno.errors.NotFound);
  });
});

Deno.test("lockHeld: a read of the lock list that misses the line is read again", {
  ignore: Deno.build.os !== "linux",
}, async () => {
  await withTempDir(async (dir) => {
    const mine = await DirLock.acquire(dir);
    try {
      const real = await Deno.readTextFile("/proc/locks");
      // The kernel's list, as a read that raced other locks' changes can show it: without ours.
      const ino = (await Deno.stat(`${dir}/lock`)).ino!;
      const missing = real.split("\n").filter((l) => !l.includes(`:${ino} `)).join("\n");
      let reads = 0;
      const lists = [missing, real];
      assert.equal(
        await lockHeld(dir, "lock", () => Promise.resolve(lists[reads++] ?? real)),
        true,
      );
      assert.equal(reads, 2, "the first read missed it, the second found it");
      reads = 0;
      assert.equal(await lockHeld(dir, "lock", () => (reads++, Promise.resolve(missing))), false);
      assert.equal(reads, LOCK_LIST_READS);
    } finally {
      await mine.release();
    }
  });
});

Deno.test("lockHeld: while another process holds it, not once it releases or is killed", {
  ignore: Deno.build.os !== "linux",
}, async () => {
  await withTempDir(async (dir) => {
    assert.equal(await lockHeld(dir), false, "no lock file");
    const holder = new Holder(dir);
    try {
      assert.equal(await holder.said(), "locked");
      assert.equal(await lockHeld(dir), true);
      await holder.release();
      assert.equal(await lockHeld(dir), false);
    } finally {
      await holder.kill();
    }
    const again = new Holder(dir);
    try {
      assert.equal(await again.said(), "locked");
      assert.equal(await lockHeld(dir), true);
    } finally {
      await again.kill();
    }
    assert.equal(await lockHeld(dir), false, "killed: its lock went with it");
    const mine = await DirLock.acquire(dir);
    assert.equal(await lockHeld(dir), true, "this process's own counts too");
    mine.release();
  });
});
