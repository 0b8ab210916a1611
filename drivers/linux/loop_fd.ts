/**
 * Finds the epoll instance of this thread's event loop (Deno's tokio reactor), so that a poll(2)
 * made on the JS thread can also wake for whatever the event loop would wake for: its sockets
 * (TCP, HTTP, DNS), signals, and every wake-up from another thread (finished blocking-pool
 * calls, worker messages), which all go through an eventfd registered in that epoll. Only timers
 * are not in it.
 *
 * Linux keeps in `/proc/self/fdinfo/<epoll fd>` the fds registered in an epoll instance (`tfd:`
 * lines): a TCP listener made here for a moment is registered in this thread's reactor, so the
 * epoll instance listing its fd is the one. Best effort: null when anything is missing (no /proc,
 * no permission to read it or to listen on 127.0.0.1, no single match).
 * @module
 */

let cached: number | null | undefined;

/** The fd of the event loop's epoll instance, or null when it cannot be told for sure. */
export function eventLoopEpollFd(): number | null {
  if (cached !== undefined && (cached === null || isEpoll(cached))) return cached;
  cached = find();
  return cached;
}

function isEpoll(fd: number): boolean {
  try {
    return Deno.readLinkSync(`/proc/self/fd/${fd}`) === "anon_inode:[eventpoll]";
  } catch {
    return false;
  }
}

/** The sockets (by inode) and the epoll instances (by fd) this process holds. */
function fdsByKind(): { sockets: Map<string, number>; epolls: number[] } {
  const sockets = new Map<string, number>();
  const epolls: number[] = [];
  for (const e of Deno.readDirSync("/proc/self/fd")) {
    const fd = Number(e.name);
    let target: string;
    try {
      target = Deno.readLinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // closed while listed (the fd of the listing itself)
    }
    const socket = /^socket:\[(\d+)\]$/.exec(target);
    if (socket) sockets.set(socket[1], fd);
    else if (target === "anon_inode:[eventpoll]") epolls.push(fd);
  }
  return { sockets, epolls };
}

function find(): number | null {
  if (Deno.build.os !== "linux") return null;
  let listener: Deno.Listener | undefined;
  try {
    // By inode, not fd number: an fd closed meanwhile (Deno closes some lazily) may be reused.
    const before = fdsByKind().sockets;
    listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const { sockets, epolls } = fdsByKind();
    const added = [...sockets.keys()].filter((ino) => !before.has(ino));
    if (added.length !== 1) return null;
    // fdinfo names each registered file by fd and by inode (hex): both must match.
    const fd = sockets.get(added[0])!;
    const ino = Number(added[0]).toString(16);
    const matches = epolls.filter((ep) => registered(ep).get(fd) === ino);
    // Deno holds its reactor's epoll under two fds (a dup): the same registrations, one instance.
    const lists = new Set(matches.map((ep) => registrations(ep)));
    return matches.length > 0 && lists.size === 1 ? matches[0] : null;
  } catch {
    return null;
  } finally {
    listener?.close();
  }
}

/** The `tfd:` lines of an epoll instance's fdinfo: what is registered in it, and how. */
function registrations(epfd: number): string {
  const text = Deno.readTextFileSync(`/proc/self/fdinfo/${epfd}`);
  return text.split("\n").filter((l) => l.startsWith("tfd:")).sort().join("\n");
}

/** The fds registered in an epoll instance, each with its file's inode (hex). */
function registered(epfd: number): Map<number, string> {
  const out = new Map<number, string>();
  for (const m of registrations(epfd).matchAll(/^tfd:\s+(\d+)\s.*\sino:([0-9a-f]+)/gm)) {
    out.set(Number(m[1]), m[2]);
  }
  return out;
}
