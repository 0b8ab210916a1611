import assert from "node:assert/strict";
import { join } from "node:path";
import { ConfigError } from "./config_error.ts";
import {
  lineOf,
  MAX_ALIASES,
  MAX_CONFIG_BYTES,
  openYamlFile,
  policyFromNode,
  yamlInput,
  yamlKey,
} from "./yaml_source.ts";

async function withText<T>(
  text: string | Uint8Array,
  fn: (path: string) => Promise<T>,
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "weft-yaml-source-" });
  try {
    const path = join(dir, "weft.yaml");
    if (typeof text === "string") await Deno.writeTextFile(path, text);
    else await Deno.writeFile(path, text);
    return await fn(path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function refusal(text: string | Uint8Array): Promise<ConfigError> {
  return await withText(text, async (path) => {
    const e = await openYamlFile(path).then(() => assert.fail("opened"), (e) => e);
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.file, path);
    return e;
  });
}

Deno.test("yaml source: a mapping at the top, with lines", async () => {
  await withText("# c\nmtu: 1400\nadvertise:\n  - a:1\n  - b:2\n", async (path) => {
    const { y, root } = await openYamlFile(path);
    assert.ok(root);
    assert.deepEqual(root.items.map((p) => lineOf(y, p.key)), [2, 3]);
    const list = yamlInput(root.items[1].value, "advertise", y);
    assert.equal(list.kind, "seq");
    assert.deepEqual(
      list.kind === "seq" && list.items.map((i) => [i.path, i.where.line]),
      [["advertise[0]", 4], ["advertise[1]", 5]],
    );
    assert.equal(yamlKey(root.items[0].key, undefined, {}), "mtu");
  });
  await withText("# only comments\n", async (path) => {
    assert.equal((await openYamlFile(path)).root, null);
  });
});

Deno.test("yaml source: what is refused, and at which line", async () => {
  assert.match((await refusal("- a\n- b\n")).reason, /at the top, got a list/);
  assert.match((await refusal("5\n")).reason, /got a single value/);
  const dup = await refusal("mtu: 1\n'mtu': 2\n");
  assert.match(dup.reason, /duplicate key "mtu"/);
  assert.equal(dup.line, 2);
  assert.match((await refusal("a: 1\n---\nb: 2\n")).reason, /more than one YAML document/);
  assert.match((await refusal("a: [\n")).reason, /invalid YAML/);
  assert.match((await refusal(new Uint8Array([0x61, 0x3a, 0x20, 0xff]))).reason, /UTF-8/);
  assert.match(
    (await refusal("x".repeat(MAX_CONFIG_BYTES + 1))).reason,
    /larger than 1048576 bytes/,
  );
  const missing = await openYamlFile("/nonexistent/weft.yaml").catch((e) => e);
  assert.match(missing.reason, /does not exist/);
});

Deno.test("yaml source: aliases are followed, at most MAX_ALIASES", async () => {
  const many = ["a: &x v", ...Array.from({ length: MAX_ALIASES + 1 }, (_, i) => `b${i}: *x`)];
  await withText(many.join("\n") + "\n", async (path) => {
    const { y, root } = await openYamlFile(path);
    assert.ok(root);
    const inputs = () => root.items.slice(1).map((p, i) => yamlInput(p.value, `b${i}`, y));
    assert.throws(inputs, /more than 100 aliases/);
  });
});

Deno.test("yaml source: the policy section is kept as a node, bombs refused", async () => {
  await withText("mtu: 1\npolicy:\n  defaults: { inbound: deny }\n", async (path) => {
    const { y, root } = await openYamlFile(path);
    const policy = policyFromNode(root!.items[1].value, y, { file: path, line: 2 });
    assert.equal(policy?.line, 3);
    assert.deepEqual(policy?.value, { defaults: { inbound: "deny" } });
  });
  await withText("policy: [1]\n", async (path) => {
    const { y, root } = await openYamlFile(path);
    assert.throws(() => policyFromNode(root!.items[0].value, y, {}), /expected a mapping/);
  });
  const bomb = ["policy:", "  x0: &a0 [l, l, l, l, l, l, l, l, l]"];
  for (let i = 1; i <= 8; i++) bomb.push(`  x${i}: &a${i} [${Array(9).fill(`*a${i - 1}`)}]`);
  await withText(bomb.join("\n") + "\n", async (path) => {
    const { y, root } = await openYamlFile(path);
    assert.throws(() => policyFromNode(root!.items[0].value, y, {}), /alias bomb/);
  });
});
