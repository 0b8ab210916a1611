/**
 * An exclusive lock on a directory, so that two processes never use it at once: a lock file in
 * it, locked without waiting and held until {@link DirLock.release} (or until the process ends:
 * the operating system drops the lock of a process that dies, even killed with SIGKILL). The
 * holder's PID is written into the lock file, so a refused process can say who holds it.
 *
 * The lock is `Deno.FsFile.tryLock(true)`: flock(2) with LOCK_EX|LOCK_NB on Linux and macOS,
 * LockFileEx with LOCKFILE_FAIL_IMMEDIATELY on Windows (where a locked file cannot be read by
 * others, so the PID is not known there). The file is opened close-on-exec, so child processes do
 * not inherit the lock. A runtime without `tryLock`, or a filesystem that refuses locks, gives a
 * lock that is not enforced ({@link DirLock.enforced} false, with the reason) rather than an
 * error: the caller decides whether to warn.
 *
 * The lock file exists while the lock is held: {@link DirLock.release} removes it while still
 * holding the lock, and a process that locks a file checks that the path still names it (or
 * starts again), so that a process which opened the old file just before its removal never holds
 * "a" lock beside the holder of the new one. Where the platform gives no file identities (inode
 * numbers) to check, or the lock is not enforced, the file is kept, emptied of its PID.
 * @module
 */

import { join } from "node:path";

/** Options of {@link DirLock.acquire}. */
export interface DirLockOptions {
  /** The lock file's name in the directory. Default `lock`. */
  name?: string;
  /** What the directory is, for the error message. Default `directory`. */
  label?: string;
  /** What to do about it, appended to the error message (`stop it first`). */
  hint?: string;
}

/** The directory is locked by another process (or another lock in this one). */
export class DirLockedError extends Error {
  /** The directory. */
  readonly dir: string;
  /** The lock file. */
  readonly lockFile: string;
  /** The holder's PID as it wrote it, when it could be read. */
  readonly pid: number | null;

  /** The lock on `dir` held by `pid` (null when unreadable) through `lockFile`. */
  constructor(dir: string, lockFile: string, pid: number | null, options: DirLockOptions = {}) {
    const holder = pid === null ? "another process" : `another process (PID ${pid})`;
    super(
      `${options.label ?? "directory"} ${dir} is in use by ${holder}` +
        (options.hint ? `: ${options.hint}` : ""),
    );
    this.name = "DirLockedError";
    this.dir = dir;
    this.lockFile = lockFile;
    this.pid = pid;
  }
}

/** A held lock on a directory. */
export class DirLock {
  readonly #file: Deno.FsFile;
  // Whether release removes the file: only an enforced lock whose file identity was checked.
  readonly #removable: boolean;
  #held: boolean;

  private constructor(
    /** The directory. */
    readonly dir: string,
    /** The lock file. */
    readonly lockFile: string,
    file: Deno.FsFile,
    /** Why the lock is not enforced, when it is not (see the module docs). */
    readonly notEnforced: string | null,
    removable = false,
  ) {
    this.#file = file;
    this.#removable = removable;
    this.#held = true;
  }

  /** False when the platform or the filesystem could not lock (see {@link notEnforced}). */
  get enforced(): boolean {
    return this.notEnforced === null;
  }

  /** Until {@link release}. */
  get held(): boolean {
    return this.#held;
  }

  /**
   * Locks `dir` (which must exist) without waiting: a {@link DirLockedError} when another
   * process, or another `DirLock` of this process, holds it.
   */
  static async acquire(dir: string, options: DirLockOptions = {}): Promise<DirLock> {
    const lockFile = join(dir, options.name ?? "lock");
    for (let attempt = 1;; attempt++) {
      // Not truncated on open: the file holds the current holder's PID until this one has the
      // lock.
      const file = await Deno.open(lockFile, {
        read: true,
        write: true,
        create: true,
        mode: 0o600,
      });
      let locked: boolean;
      try {
        if (typeof file.tryLock !== "function") {
          return new DirLock(dir, lockFile, file, "this Deno has no FsFile.tryLock");
        }
        locked = await file.tryLock(true);
      } catch (e) {
        // ENOLCK, EOPNOTSUPP (a filesystem without locks): run unlocked, and say so.
        return new DirLock(dir, lockFile, file, `locking ${lockFile} failed: ${String(e)}`);
      }
      if (!locked) {
        file.close();
        throw new DirLockedError(dir, lockFile, await readPid(lockFile), options);
      }
      let same: boolean | null;
      try {
        same = await namesFile(lockFile, file);
      } catch (e) {
        file.close();
        throw e;
      }
      if (same === false) {
        // Its holder released it (and removed it) between our open and our lock: the lock is
        // the file now at the path. Bounded: each round means another process took and gave
        // it up meanwhile.
        file.close();
        if (attempt < 100) continue;
        throw new DirLockedError(dir, lockFile, await readPid(lockFile), options);
      }
      try {
        await file.truncate(0);
        const bytes = new TextEncoder().encode(`${Deno.pid}\n`);
        let off = 0;
        while (off < bytes.length) off += await file.write(bytes.subarray(off));
      } catch {
        // The PID is only for the message another process shows; the lock is what counts.
      }
      return new DirLock(dir, lockFile, file, null, same === true);
    }
  }

  /**
   * Releases the lock and removes its file (while still holding it: see the module docs; where
   * it cannot be removed, only the PID is cleared); again is a no-op.
   */
  release(): void {
    if (!this.#held) return;
    this.#held = false;
    let removed = false;
    if (this.#removable) {
      try {
        Deno.removeSync(this.lockFile);
        removed = true;
      } catch {
        // Kept, emptied below: the next holder locks it as it is.
      }
    }
    try {
      if (this.enforced && !removed) this.#file.truncateSync(0);
    } catch {
      // Only the PID stays behind; the next holder overwrites it.
    }
    this.#file.close(); // closing the last descriptor drops the lock
  }

  /** `using lock = await DirLock.acquire(dir)` releases it at the end of the scope. */
  [Symbol.dispose](): void {
    this.release();
  }
}

/**
 * Whether the path names the open file (same device and inode): false when it names another
 * file or none, null when the platform gives no inode numbers to compare.
 */
async function namesFile(path: string, file: Deno.FsFile): Promise<boolean | null> {
  const open = await file.stat();
  if (open.ino === null || open.dev === null) return null;
  try {
    const now = await Deno.lstat(path);
    return now.ino === open.ino && now.dev === open.dev;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * Reads of /proc/locks before a lock it does not list counts as not held: the kernel writes the
 * file a page at a time, and locks taken or dropped elsewhere between two pages shift the list,
 * so one read can miss a line (seen on a busy machine: a running agent taken for gone).
 */
export const LOCK_LIST_READS = 3;

/**
 * Whether some process holds the lock on `dir` now, as far as can be told without taking it
 * (taking it, even for an instant, could refuse an agent starting then): on Linux, whether the
 * kernel lists a lock on the lock file's inode in /proc/locks (read up to
 * {@link LOCK_LIST_READS} times); true where that cannot be told (another system, no /proc). A
 * holder killed outright holds nothing: its lock went with it. `readLocks` reads the list (tests).
 */
export async function lockHeld(
  dir: string,
  name = "lock",
  readLocks: () => Promise<string> = () => Deno.readTextFile("/proc/locks"),
): Promise<boolean> {
  if (Deno.build.os !== "linux") return true;
  let ino: number | null;
  try {
    ino = (await Deno.stat(join(dir, name))).ino;
  } catch (e) {
    return !(e instanceof Deno.errors.NotFound); // no lock file: never held
  }
  if (ino === null) return true;
  // `1: FLOCK  ADVISORY  WRITE 1234 fe:00:2146770 0 EOF`: the inode closes the device field.
  const line = `:${ino} `;
  for (let i = 0; i < LOCK_LIST_READS; i++) {
    let locks: string;
    try {
      locks = await readLocks();
    } catch {
      return true;
    }
    if (locks.split("\n").some((l) => l.includes(line))) return true;
  }
  return false;
}

/** The PID written in a lock file, or null (empty, being written, unreadable on Windows). */
async function readPid(lockFile: string): Promise<number | null> {
  try {
    const text = await Deno.readTextFile(lockFile);
    const m = /^(\d{1,10})\n?$/.exec(text);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}
