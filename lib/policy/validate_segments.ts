/**
 * The policy validator's checks of the segments: overlay networks (VNIs) and the members in each.
 * @module
 */

import {
  DEFAULT_SEGMENT_DRIVER,
  isSegmentDriverName,
  SEGMENT_DRIVERS,
} from "../segments/segments.ts";
import type { Selector } from "./selector.ts";
import {
  MAX_SEGMENTS,
  MAX_VNI,
  type PolicyPath,
  type Segment,
  SEGMENT_MTU_RANGE,
} from "./model.ts";
import { isMap, typeName, type Validator } from "./validator.ts";

const SEGMENT_NAME_RE = /^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/;
const SEGMENT_KEYS = ["name", "vni", "select", "mtu", "driver"];

/** The document's `segments`: each one checked, a name or VNI used twice noted. */
export function segments(vd: Validator, list: unknown): Segment[] {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) {
    vd.fail(["segments"], `segments must be a list, got ${typeName(list)}`);
  }
  if (list.length > MAX_SEGMENTS) {
    vd.fail(["segments"], `${list.length} segments is more than the limit of ${MAX_SEGMENTS}`);
  }
  const out: Segment[] = [];
  const at: number[] = [];
  for (let i = 0; i < list.length; i++) {
    const seg = vd.guard(() => segment(vd, list[i], ["segments", i]), null);
    if (seg === null) continue;
    const twin = out.findIndex((o) => o.name === seg.name || o.vni === seg.vni);
    if (twin >= 0) {
      const what = out[twin].name === seg.name ? `name "${seg.name}"` : `vni ${seg.vni}`;
      vd.note(
        ["segments", i],
        `duplicate segment ${what} (first used by segments[${at[twin]}])`,
      );
      continue;
    }
    out.push(seg);
    at.push(i);
  }
  return out;
}

function segment(vd: Validator, v: unknown, path: PolicyPath): Segment {
  if (!isMap(v)) return vd.fail(path, `a segment is a map, got ${typeName(v)}`);
  vd.checkKeys(v, SEGMENT_KEYS, path, "a segment");
  const p = (k: string) => [...path, k];
  if (typeof v.name !== "string" || !SEGMENT_NAME_RE.test(v.name)) {
    vd.note(
      v.name === undefined ? path : p("name"),
      `bad segment name: ${
        typeName(v.name)
      } (1-12 of a-z, 0-9 and "-", starting and ending with a letter or digit)`,
    );
  }
  if (typeof v.vni !== "number" || !Number.isInteger(v.vni) || v.vni < 1 || v.vni > MAX_VNI) {
    vd.note(
      v.vni === undefined ? path : p("vni"),
      `bad vni: expected an integer 1-${MAX_VNI}, got ${typeName(v.vni)}`,
    );
  }
  let select: Selector = [{ kind: "any" }];
  if (v.select === undefined) {
    vd.note(path, `segment "${v.name}" needs select (the members in it, "*" for every one)`);
  } else {
    select = vd.guard(() => vd.selector(v.select, p("select")), select);
    if (select.some((t) => t.kind === "cidrs")) {
      vd.note(p("select"), `a segment selects members (labels, names or "*"), not cidrs`);
    }
  }
  const seg: Segment = {
    name: v.name as string,
    vni: v.vni as number,
    select,
    driver: DEFAULT_SEGMENT_DRIVER,
  };
  if (v.mtu !== undefined) {
    const { min, max } = SEGMENT_MTU_RANGE;
    if (typeof v.mtu !== "number" || !Number.isInteger(v.mtu) || v.mtu < min || v.mtu > max) {
      vd.note(p("mtu"), `bad mtu: expected an integer ${min}-${max}, got ${typeName(v.mtu)}`);
    } else seg.mtu = v.mtu;
  }
  if (v.driver !== undefined) {
    if (!isSegmentDriverName(v.driver)) {
      vd.note(
        p("driver"),
        `bad driver: expected one of ${Object.keys(SEGMENT_DRIVERS).join(", ")}, got ${
          typeName(v.driver)
        }`,
      );
    } else seg.driver = v.driver;
  }
  return seg;
}
