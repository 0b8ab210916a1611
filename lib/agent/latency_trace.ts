/**
 * A latency trace of the packet path (issue 15), for finding where a ping's round trip goes: off
 * unless `WEFT_LATENCY_TRACE` names a file. Then the agent wraps its packet device and transport
 * and hooks its poller, and stamps (wall clock, µs, comparable between the processes of a machine)
 * each step of each packet: the poller's wait ending, a packet read from the TUN (with an ICMP
 * echo's id, sequence and the send time `ping` put in its payload), the datagram queued after the
 * seal, the sendmmsg done, a datagram received, the TUN write. At close the events go to
 * `<file>.<pid>` as JSON lines: `{"k":"tun-read","t":1712345678901234.5,"seq":3,...}`.
 * `scripts/bench/latency.ts` runs two agents with it and prints the breakdown.
 * @module
 */

import type { DatagramSink, Endpoint, PacketDevice, PacketSink, Transport } from "../io/driver.ts";
import { CLOCK_REALTIME, libc } from "../../drivers/linux/libc.ts";
import type { PollPhase } from "../../drivers/linux/poller.ts";

/** What each event is. */
export const TRACE_KINDS = [
  "poll-wait", // the poller starts waiting: an awaited poll on the FFI helper thread
  "poll-wait-here", // the poller starts waiting on the JS thread (lingering after traffic)
  "poll-wake", // the wait ended: `n` fds ready (the JS continuation runs now)
  "tun-read", // a packet from the TUN reached the device
  "udp-send", // the device queued a sealed datagram
  "udp-flush", // sendmmsg returned, `n` datagrams sent
  "udp-recv", // a datagram reached the device
  "tun-write", // the device starts writing a packet to the TUN
  "tun-written", // the write returned
] as const;
/** An event's kind. */
export type TraceKind = typeof TRACE_KINDS[number];

const MAX_EVENTS = 1 << 20;

/** Stamps events into a preallocated buffer; see the module docs. */
export class LatencyTrace {
  readonly #file: string;
  readonly #ts = new BigInt64Array(2);
  readonly #tsBytes = new Uint8Array(this.#ts.buffer);
  // Per event: kind, time (µs), and three numbers (fds ready, ICMP type/id/seq, send time).
  readonly #events = new Float64Array(MAX_EVENTS * 5);
  #count = 0;

  constructor(file: string) {
    this.#file = file;
  }

  /** The wall clock in µs (fractional). */
  now(): number {
    libc().clock_gettime(CLOCK_REALTIME, this.#tsBytes);
    return Number(this.#ts[0]) * 1e6 + Number(this.#ts[1]) / 1e3;
  }

  /** Records one event now. */
  mark(kind: TraceKind, a = 0, b = 0, c = 0): void {
    this.markAt(kind, this.now(), a, b, c);
  }

  /** Records one event that happened at `t` (µs, from `now()`). */
  markAt(kind: TraceKind, t: number, a = 0, b = 0, c = 0): void {
    if (this.#count >= MAX_EVENTS) return;
    const i = this.#count++ * 5;
    const e = this.#events;
    e[i] = TRACE_KINDS.indexOf(kind);
    e[i + 1] = t;
    e[i + 2] = a;
    e[i + 3] = b;
    e[i + 4] = c;
  }

  /** A poller hook: marks the waits and wakes. */
  readonly onPoll = (phase: PollPhase, ready: number): void => {
    this.mark(
      phase === "wake" ? "poll-wake" : phase === "wait" ? "poll-wait" : "poll-wait-here",
      ready,
    );
  };

  /** Wraps the plaintext side: packets read and written are stamped. */
  wrapPackets(inner: PacketDevice): PacketDevice {
    const mark = (kind: TraceKind, pkt: Uint8Array) => {
      const t = this.now();
      const [type, seq, sent] = icmpEcho(pkt);
      this.markAt(kind, t, type, seq, sent);
    };
    return {
      get name() {
        return inner.name;
      },
      get mtu() {
        return inner.mtu;
      },
      start(sink: PacketSink): void {
        inner.start({
          packet(data, room) {
            mark("tun-read", data);
            sink.packet(data, room);
          },
          flush: () => sink.flush(),
        });
      },
      write: (data: Uint8Array): void => {
        mark("tun-write", data);
        inner.write(data);
        this.mark("tun-written");
      },
      // A TUN with offloads queues what `write` gets and hands it to the host here: without it
      // the queued packets would wait for the queue to fill.
      flush: (): void => inner.flush?.(),
      close: () => inner.close(),
    };
  }

  /** Wraps the underlay: datagrams queued, flushed and received are stamped. */
  wrapTransport(inner: Transport): Transport {
    let queued = 0;
    return {
      get name() {
        return inner.name;
      },
      get port() {
        return inner.port;
      },
      start: (sink: DatagramSink): void => {
        inner.start({
          datagram: (data: Uint8Array, from: Endpoint, waitedMs?: number) => {
            this.mark("udp-recv", data.length);
            sink.datagram(data, from, waitedMs);
          },
          flush: () => sink.flush(),
        });
      },
      send: (data: Uint8Array, to: Endpoint): void => {
        this.mark("udp-send", data.length);
        queued++;
        inner.send(data, to);
      },
      reserve: (max: number, to: Endpoint): Uint8Array | null =>
        inner.reserve === undefined ? null : inner.reserve(max, to),
      commit: (length: number, to: Endpoint): void => {
        this.mark("udp-send", length);
        queued++;
        inner.commit!(length, to);
      },
      flush: (): void => {
        inner.flush();
        if (queued > 0) this.mark("udp-flush", queued);
        queued = 0;
      },
      endpoint: (text: string) => inner.endpoint(text),
      ...(inner.rebind ? { rebind: (port: number) => inner.rebind!(port) } : {}),
      ...(inner.setFwMark ? { setFwMark: (mark: number) => inner.setFwMark!(mark) } : {}),
      close: async () => {
        await inner.close();
        this.write();
      },
    };
  }

  /** Writes the events to `<file>.<pid>` (JSON lines). */
  write(): void {
    const e = this.#events;
    const lines: string[] = [];
    for (let i = 0; i < this.#count; i++) {
      const o = i * 5;
      lines.push(JSON.stringify({
        k: TRACE_KINDS[e[o]],
        t: e[o + 1],
        a: e[o + 2],
        b: e[o + 3],
        c: e[o + 4],
      }));
    }
    Deno.writeTextFileSync(`${this.#file}.${Deno.pid}`, lines.join("\n") + "\n");
  }
}

/**
 * An IPv4 ICMP echo's type (8 request, 0 reply; -1 for anything else), its sequence number, and
 * the send time (µs) `ping` writes at the start of its payload (a struct timeval, 0 if absent).
 */
function icmpEcho(pkt: Uint8Array): [number, number, number] {
  if (pkt.length < 28 || pkt[0] >> 4 !== 4 || pkt[9] !== 1) return [-1, 0, 0];
  const ihl = (pkt[0] & 15) * 4;
  const type = pkt[ihl];
  if (type !== 8 && type !== 0) return [-1, 0, 0];
  const seq = (pkt[ihl + 6] << 8) | pkt[ihl + 7];
  let sent = 0;
  if (pkt.length >= ihl + 8 + 16) {
    const v = new DataView(pkt.buffer, pkt.byteOffset + ihl + 8, 16);
    sent = Number(v.getBigInt64(0, true)) * 1e6 + Number(v.getBigInt64(8, true));
  }
  return [type, seq, sent];
}

/** The trace `WEFT_LATENCY_TRACE` asks for, or null (the default: no trace, no wrappers). */
export function latencyTraceFromEnv(): LatencyTrace | null {
  try {
    return latencyTraceFor(Deno.env.get("WEFT_LATENCY_TRACE"));
  } catch {
    return null; // no --allow-env: no trace
  }
}

/** A trace writing to `file`, or null for none (absent or empty). */
export function latencyTraceFor(file: string | undefined): LatencyTrace | null {
  return file ? new LatencyTrace(file) : null;
}
