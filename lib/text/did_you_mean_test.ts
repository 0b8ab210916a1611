import assert from "node:assert/strict";
import { didYouMean } from "./did_you_mean.ts";

const KNOWN = ["listen-port", "mtu", "persistent-keepalive", "label", "endpoint", "dns-port"];

Deno.test("didYouMean: spelling variants fold to the known name", () => {
  assert.equal(didYouMean("LISTEN_PORT", KNOWN), "listen-port");
  assert.equal(didYouMean("listen port", KNOWN), "listen-port");
  assert.equal(didYouMean("listenPort", KNOWN), "listen-port");
  assert.equal(didYouMean("dnsPort", KNOWN), "dns-port");
  assert.equal(didYouMean("MTU", KNOWN), "mtu");
  // A plural or singular of a known name.
  assert.equal(didYouMean("labels", KNOWN), "label");
  assert.equal(didYouMean("endpoints", KNOWN), "endpoint");
  assert.equal(didYouMean("label", ["labels"]), "labels");
});

Deno.test("didYouMean: typos within a few edits, scaled to the word's length", () => {
  assert.equal(didYouMean("endpiont", KNOWN), "endpoint");
  assert.equal(didYouMean("persistent-keepalvie", KNOWN), "persistent-keepalive");
  assert.equal(didYouMean("mtx", KNOWN), "mtu", "short words allow one edit");
  assert.equal(didYouMean("mxx", KNOWN), undefined, "but not two");
  // Five letters allow one edit (a swap is two); six allow two, not three.
  assert.equal(didYouMean("lbael", KNOWN), undefined);
  assert.equal(didYouMean("xyzabc", ["xyzaef"]), "xyzaef");
  assert.equal(didYouMean("xyzabc", ["xyzdef"]), undefined);
  assert.equal(didYouMean("lsten-prt", KNOWN), "listen-port");
  // At most three edits however long the word.
  assert.equal(didYouMean("persistent-kepalive-xyz", KNOWN), undefined);
  assert.equal(didYouMean("anything", []), undefined);
});

Deno.test("didYouMean: the closest name wins; on a tie, the first listed", () => {
  assert.equal(didYouMean("porte", ["ports", "port"]), "ports");
  assert.equal(didYouMean("porte", ["port", "ports"]), "port");
  assert.equal(didYouMean("abcd", ["abce", "abcf"]), "abce");
  assert.equal(didYouMean("abcd", ["abcf", "abce"]), "abcf");
  assert.equal(didYouMean("aaaaaaaaa", ["aaaaaaabb", "aaaaaaaab"]), "aaaaaaaab");
});
