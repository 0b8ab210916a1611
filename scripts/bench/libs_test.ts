import assert from "node:assert/strict";
import { decodeMessage } from "../../lib/dns/wire.ts";
import { didYouMean } from "../../lib/text/did_you_mean.ts";
import { optionHelp } from "../../lib/config/help.ts";
import { dnsPacketVerdict, hostileMessages, NOISE, promPage, recordPage } from "./libs.ts";
import { meshPage } from "./metrics.ts";

// The reasons the modules' headers give for keeping weft's own code rest on these facts; if a
// library's new version changes one, this fails and the figures need measuring again.

Deno.test("libs: weft's DNS decoder refuses every hostile message, each with its reason", () => {
  const got = hostileMessages().map(([input, bytes]) => {
    const r = decodeMessage(bytes);
    return [input, r.ok ? "ok" : r.error];
  });
  assert.deepEqual(Object.fromEntries(got), {
    "11 bytes: no header": "short-header",
    "question cut inside its name": "truncated",
    "65,535 questions announced, one there": "truncated",
    "compression pointer to itself": "bad-pointer",
    "two pointers to each other": "bad-pointer",
    "pointer forward": "bad-pointer",
    "200 labels inline (name > 255 bytes)": "name-too-long",
    "200 names each one label and a pointer back": "pointer-loop",
    "label type 0b01": "label-too-long",
    "A record with 3 bytes of data": "bad-rdata",
    "record data length past the end": "truncated",
    "TXT string longer than its record": "bad-rdata",
    "OPT in the answer section": "bad-opt",
    "two OPT records": "bad-opt",
    "bytes after the last record": "trailing-data",
  });
});

Deno.test("libs: dns-packet bounds pointers and names but accepts five malformed messages", () => {
  const accepted = hostileMessages().filter(([, bytes]) =>
    dnsPacketVerdict(bytes).startsWith("accepts")
  ).map(([input]) => input);
  assert.deepEqual(accepted, [
    "A record with 3 bytes of data",
    "record data length past the end",
    "OPT in the answer section",
    "two OPT records",
    "bytes after the last record",
  ]);
  // What it refuses, it refuses with a plain Error: no reason to count, no header to answer.
  const [, loop] = hostileMessages().find(([input]) => input === "two pointers to each other")!;
  assert.equal(dnsPacketVerdict(loop), "throws Error: Cannot decode name (bad pointer)");
});

Deno.test("libs: prom-client is given the same samples as weft's page renders", async () => {
  const count = (t: string) => t.split("\n").filter((l) => l && !l.startsWith("#")).length;
  const weft = count(meshPage(300).render());
  assert.ok(weft > 1000, `${weft} samples`);
  assert.equal(count(await promPage(recordPage(300)).metrics()), weft);
});

Deno.test("libs: weft's did-you-mean suggests no configuration key for unrelated words", () => {
  const known = optionHelp().flatMap((o) => o.yaml ? [o.yaml] : []);
  assert.deepEqual(NOISE.filter((w) => didYouMean(w, known) !== undefined), []);
  assert.equal(didYouMean("listen_prot", known), "listen-port");
});
