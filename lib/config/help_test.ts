import assert from "node:assert/strict";
import { optionHelp, optionTableMarkdown } from "./help.ts";
import { KEYS } from "./options.ts";

Deno.test("help: one row per option, in table order", () => {
  const rows = optionHelp();
  assert.deepEqual(rows.map((r) => r.name), KEYS);
  const advertise = rows.find((r) => r.name === "advertise")!;
  assert.equal(advertise.flag, "--advertise");
  assert.equal(advertise.arg, "<host:port>");
  assert.equal(advertise.attribute, "advertise");
  assert.equal(advertise.repeatable, true);
  const policy = rows.find((r) => r.name === "policy")!;
  assert.equal(policy.flag, undefined);
  assert.equal(policy.attribute, undefined);
});

Deno.test("help: the Markdown table escapes pipes and marks file-only options", () => {
  const md = optionTableMarkdown();
  const lines = md.split("\n");
  assert.equal(lines.length, KEYS.length + 2);
  assert.match(md, /\| `--label <key=value>` \(repeatable\) \| `labels` \|/);
  assert.match(md, /\| — \| `policy` \|/);
  assert.match(md, /\| `--config <file>` \| — \|/);
  for (const line of lines.slice(2)) assert.equal(line.split(/(?<!\\)\|/).length, 8, line);
});
