/**
 * How the dashboard writes figures and names: byte counts, rates, RTTs, loss, ages, a peer's name
 * and address, and its health as a class the stylesheet knows. Pure, so tests run it without a
 * browser.
 * @module
 */

import type { Health, PeerDoc } from "./types.ts";

const HEALTH: readonly Health[] = ["up", "degraded", "down", "unknown", "idle"];

/**
 * A peer's post-quantum cell: `yes` and the key's age when its session was made with a
 * post-quantum key, else `no` and why (`held` when data waits for one); `–` for a peer that
 * has none (not a member).
 */
export function pqCell(p: PeerDoc): { text: string; pq: "yes" | "no" | "" } {
  const q = p.pq;
  if (!q || typeof q !== "object") return { text: "–", pq: "" };
  if (q.session === true) {
    const age = typeof q.keyAgeSeconds === "number" ? ` ${Math.floor(q.keyAgeSeconds)}s` : "";
    return { text: `yes${age}`, pq: "yes" };
  }
  const state = typeof q.state === "string" ? q.state : "?";
  const held = q.required === true && state !== "off" ? "held, " : "";
  return { text: `no (${held}${state})`, pq: "no" };
}

/** Whether `x` is a health the page draws (and so a class and colour it may use). */
export function isHealth(x: unknown): x is Health {
  return typeof x === "string" && (HEALTH as readonly string[]).includes(x);
}

/** The peer's health, `unknown` for anything the page does not know. */
export function health(p: PeerDoc): Health {
  return isHealth(p.health) ? p.health : "unknown";
}

/** The first 8 characters of a key and an ellipsis. */
export function shortKey(k: unknown): string {
  return String(k || "").slice(0, 8) + "…";
}

/** The peer's name, or its key's start. */
export function peerName(p: PeerDoc): string {
  return p.name || shortKey(p.publicKey);
}

/** The peer's overlay address, or its first allowed IP without a host-length prefix. */
export function peerAddress(p: PeerDoc): string {
  if (p.address) return p.address;
  const a = (p.allowedIps || [])[0];
  return a ? String(a).replace(/\/(32|128)$/, "") : "";
}

/** A byte count in binary units, `–` when not a number. */
export function bytes(n: unknown): string {
  if (typeof n !== "number" || !isFinite(n)) return "–";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return (i === 0 ? String(Math.round(n)) : n.toFixed(1)) + " " + u[i];
}

/** Bytes per second, `–` when not a number. */
export function rate(n: unknown): string {
  return typeof n === "number" ? bytes(n) + "/s" : "–";
}

/** An RTT in ms, with fewer decimals as it grows. */
export function rtt(ms: unknown): string {
  if (typeof ms !== "number") return "–";
  return (ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : Math.round(ms)) + " ms";
}

/** A loss ratio as a percentage. */
export function loss(x: unknown): string {
  return typeof x === "number" ? Math.round(x * 1000) / 10 + "%" : "–";
}

/** An age in seconds as "…s/m/h ago", `never` when not a number. */
export function ago(s: unknown): string {
  if (typeof s !== "number") return "never";
  if (s < 60) return s + "s ago";
  if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s ago";
  return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m ago";
}

/** An uptime in seconds, its two largest units. */
export function duration(s: unknown): string {
  if (typeof s !== "number") return "";
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return d ? d + "d " + h + "h" : h ? h + "h " + m + "m" : m ? m + "m " + (s % 60) + "s" : s + "s";
}

/** The peers by name, for a stable order. */
export function sortedPeers(peers: PeerDoc[] | undefined): PeerDoc[] {
  return (peers || []).slice().sort((a, b) =>
    peerName(a) < peerName(b) ? -1 : peerName(a) > peerName(b) ? 1 : 0
  );
}
