/**
 * weft against another implementation, round by round: on a shared machine the load moves between
 * two measurements minutes apart, so only figures taken in the same round (one right after the
 * other) are compared, and the rounds' ratios summed up by their median. Pure: no timing here.
 * @module
 */

import { median } from "./net_measure.ts";

/** One implementation's figures in one round. */
export interface RoundFigure {
  /** Throughput, Mbit/s. */
  mbps: number;
  /** The agents' CPU-seconds per GB. */
  cpuPerGB: number;
}

/** One round: the load average at its start and each side's figures (absent: it failed). */
export interface RoundInput {
  /** The 1-minute load average when the round started. */
  load: number;
  weft?: RoundFigure;
  other?: RoundFigure;
}

/** A round's ratios of weft to the other (NaN where a side is missing or a figure is not > 0). */
export interface RoundRatio {
  /** 1-based round number. */
  round: number;
  load: number;
  weft?: RoundFigure;
  other?: RoundFigure;
  /** weft's throughput / the other's: above 1 is better for weft. */
  throughput: number;
  /** weft's CPU per GB / the other's: below 1 is better for weft. */
  cpuPerGB: number;
}

/** Every round's ratios, and their medians over the rounds where both sides were measured. */
export interface RoundRatios {
  rounds: RoundRatio[];
  /** Median of the rounds' throughput ratios (NaN when no round has one). */
  throughput: number;
  /** Median of the rounds' CPU-per-GB ratios. */
  cpuPerGB: number;
  /** The lowest and highest load at a round's start. */
  loadRange: [number, number];
}

/** a / b when both are positive finite numbers, else NaN (a failed or empty measurement). */
function quotient(a: number | undefined, b: number | undefined): number {
  if (a === undefined || b === undefined) return NaN;
  if (!(a > 0 && b > 0 && Number.isFinite(a) && Number.isFinite(b))) return NaN;
  return a / b;
}

/** The rounds' ratios of weft to the other implementation, and their medians. */
export function roundRatios(rounds: readonly RoundInput[]): RoundRatios {
  const out: RoundRatio[] = rounds.map((r, i) => ({
    round: i + 1,
    load: r.load,
    weft: r.weft,
    other: r.other,
    throughput: quotient(r.weft?.mbps, r.other?.mbps),
    cpuPerGB: quotient(r.weft?.cpuPerGB, r.other?.cpuPerGB),
  }));
  const finite = (xs: number[]) => xs.filter((x) => Number.isFinite(x));
  const loads = finite(rounds.map((r) => r.load));
  return {
    rounds: out,
    throughput: median(finite(out.map((r) => r.throughput))),
    cpuPerGB: median(finite(out.map((r) => r.cpuPerGB))),
    loadRange: loads.length ? [Math.min(...loads), Math.max(...loads)] : [NaN, NaN],
  };
}

/** The 1-minute load average now (NaN where /proc/loadavg cannot be read). */
export function loadAverage(): number {
  try {
    return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
  } catch {
    return NaN;
  }
}
