import assert from "node:assert/strict";
import { LINKS_PER_PART, linksParts, MAX_LINK_PARTS, type WireLink } from "./links.ts";
import { parseMessage } from "./protocol.ts";

const enc = new TextEncoder();
const KEY = "A".repeat(43) + "=";
const wire = (o: unknown) => parseMessage(enc.encode(JSON.stringify(o)));
const link = (i: number): WireLink => ({
  // Distinct, canonical keys: 42 characters, one of the last-character set, then "=".
  k: `${String(i).padStart(6, "0")}${"B".repeat(36)}A=`,
  s: "up",
  r: 1.234,
  p: "direct",
  i: 1000,
  o: 2000,
});

Deno.test("links message: a report in parts parses back as it was sent, each part a datagram", () => {
  const links = Array.from({ length: 20 }, (_, i) => link(i));
  const parts = linksParts(7, links);
  assert.equal(parts.length, 3);
  assert.deepEqual(parts.map((p) => p.l.length), [8, 8, 4]);
  const back = parts.map((p) => {
    const bytes = enc.encode(JSON.stringify(p));
    // Under the overlay's MTU with the IP and UDP headers, as the view's parts are.
    assert.ok(bytes.length < 1200, `${bytes.length} bytes`);
    return parseMessage(bytes);
  });
  assert.deepEqual(back, parts);
  assert.deepEqual(linksParts(1, []), [{ t: "links", n: 1, part: 0, parts: 1, l: [] }]);
});

Deno.test("links message: a report past the largest size keeps its first links", () => {
  const links = Array.from({ length: LINKS_PER_PART * MAX_LINK_PARTS + 5 }, (_, i) => link(i));
  const parts = linksParts(1, links);
  assert.equal(parts.length, MAX_LINK_PARTS);
  assert.equal(parts.flatMap((p) => p.l).length, LINKS_PER_PART * MAX_LINK_PARTS);
});

Deno.test("links message: malformed ones are refused; unknown fields are not copied", () => {
  const ok = {
    t: "links",
    n: 1,
    part: 0,
    parts: 1,
    l: [{ k: KEY, s: "down", r: null, p: "", i: 0, o: 0 }],
  };
  assert.deepEqual(wire({ ...ok, extra: "x", l: [{ ...ok.l[0], extra: 1 }] }), ok);
  const bad: [string, unknown][] = [
    ["n negative", { ...ok, n: -1 }],
    ["n fractional", { ...ok, n: 1.5 }],
    ["no parts", { ...ok, parts: 0 }],
    ["too many parts", { ...ok, parts: MAX_LINK_PARTS + 1 }],
    ["part past parts", { ...ok, part: 1 }],
    ["l not a list", { ...ok, l: {} }],
    ["too many links in a part", {
      ...ok,
      l: Array.from({ length: LINKS_PER_PART + 1 }, () => ok.l[0]),
    }],
    ["a link not an object", { ...ok, l: ["x"] }],
    ["a short key", { ...ok, l: [{ ...ok.l[0], k: "AAAA" }] }],
    ["a key that is not canonical", { ...ok, l: [{ ...ok.l[0], k: "A".repeat(42) + "B=" }] }],
    ["an unknown state", { ...ok, l: [{ ...ok.l[0], s: "fine" }] }],
    ["an unknown path", { ...ok, l: [{ ...ok.l[0], p: "carrier-pigeon" }] }],
    ["a negative RTT", { ...ok, l: [{ ...ok.l[0], r: -1 }] }],
    ["an RTT as text", { ...ok, l: [{ ...ok.l[0], r: "1" }] }],
    ["a negative rate", { ...ok, l: [{ ...ok.l[0], i: -5 }] }],
    ["a rate past any link", { ...ok, l: [{ ...ok.l[0], o: 1e300 }] }],
    ["no rate", { ...ok, l: [{ ...ok.l[0], o: undefined }] }],
  ];
  for (const [why, m] of bad) assert.equal(wire(m), null, why);
});

Deno.test("links message: an idle link (sessions on demand) parses as idle", () => {
  const idle = { ...link(1), s: "idle" as const, r: null, i: 0, o: 0 };
  assert.deepEqual(wire({ t: "links", n: 1, part: 0, parts: 1, l: [idle] }), {
    t: "links",
    n: 1,
    part: 0,
    parts: 1,
    l: [idle],
  });
});
