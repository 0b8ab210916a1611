/**
 * What waits unread in this process's UDP sockets (their kernel receive queues), from
 * /proc/net/udp: whether the simulator is behind what the leader sent, so that an answer (a
 * bye's) comes late to the member because it waits behind it, not because the leader was late.
 * @module
 */

/** The inode of the socket open at `fd` in this process, or "" when it is none. */
export function socketInode(fd: number): string {
  try {
    return /^socket:\[(\d+)\]$/.exec(Deno.readLinkSync(`/proc/self/fd/${fd}`))?.[1] ?? "";
  } catch {
    return "";
  }
}

/** Bytes queued to be read, by socket inode, for the IPv4 UDP sockets of the machine. */
export function receiveQueues(): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of Deno.readTextFileSync("/proc/net/udp").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    // f[4] is tx_queue:rx_queue in hex, f[9] the inode.
    if (f.length < 10) continue;
    out.set(f[9], parseInt(f[4].split(":")[1] ?? "0", 16) || 0);
  }
  return out;
}
