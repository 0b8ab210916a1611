import assert from "node:assert/strict";
import type { ParseContext } from "./combinators.ts";
import { flagInput, type Input } from "./input.ts";
import { pluginList } from "./plugins.ts";

const CTX: ParseContext = {
  baseDir: "/srv/conf",
  sys: { uid: 1000, home: "/home/ada", xdgStateHome: undefined, hostname: "h", cwd: "/" },
};

function yaml(value: unknown, path = "plugins"): Input {
  if (Array.isArray(value)) {
    return {
      path,
      where: { line: 1 },
      fromFlag: false,
      kind: "seq",
      items: value.map((v, i) => yaml(v, `${path}[${i}]`)),
    };
  }
  if (typeof value === "object" && value !== null) {
    return {
      path,
      where: { line: 1 },
      fromFlag: false,
      kind: "map",
      entries: Object.entries(value).map(([key, v]) => ({
        key,
        where: { line: 2 },
        value: yaml(v, `${path}.${key}`),
      })),
    };
  }
  return { path, where: { line: 1 }, fromFlag: false, kind: "scalar", value, text: String(value) };
}

Deno.test("plugins: a path grants nothing; a mapping grants what it lists, paths from the file", () => {
  assert.deepEqual(
    pluginList(
      yaml([
        "hello.ts",
        {
          path: "~/p/audit.ts",
          permissions: { read: ["data", "/var/x"], net: ["api.example.com:443"], env: true },
        },
      ]),
      CTX,
    ),
    [
      { path: "/srv/conf/hello.ts", permissions: {} },
      {
        path: "/home/ada/p/audit.ts",
        permissions: {
          read: ["/srv/conf/data", "/var/x"],
          net: ["api.example.com:443"],
          env: true,
        },
      },
    ],
  );
  // The flag: paths only, no permissions.
  assert.deepEqual(pluginList(flagInput(["a.ts"], "--plugin"), { ...CTX, baseDir: "/w" }), [
    { path: "/w/a.ts", permissions: {} },
  ]);
});

Deno.test("plugins: run and ffi are refused; unknown keys, repeats and bad grants are errors", () => {
  const bad = (v: unknown, re: RegExp) => assert.throws(() => pluginList(yaml(v), CTX), re);
  bad([{ path: "a.ts", permissions: { run: true } }], /run cannot be granted to a plugin/);
  bad([{ path: "a.ts", permissions: { ffi: ["x.so"] } }], /ffi cannot be granted/);
  bad(
    [{ path: "a.ts", permissions: { nett: true } }],
    /unknown key "nett" \(did you mean "net"\?\)/,
  );
  bad([{ path: "a.ts", perms: {} }], /unknown key "perms"/);
  bad([{ permissions: {} }], /a plugin needs a path/);
  bad([{ path: "a.ts", permissions: { net: "x" } }], /expected true or a list/);
  bad([{ path: "a.ts", permissions: { net: [""] } }], /an empty entry/);
  bad(["a.ts", "./a.ts"], /\/srv\/conf\/a.ts is listed twice/);
  bad(Array.from({ length: 17 }, (_, i) => `p${i}.ts`), /17 plugins \(at most 16\)/);
  bad("a.ts", /expected a list/);
});
