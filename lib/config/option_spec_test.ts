import assert from "node:assert/strict";
import { none, type OptionRows } from "./option_spec.ts";
import { integer } from "./combinators.ts";
import { flagInput } from "./input.ts";
import type { SystemInfo } from "./system.ts";

const SYS: SystemInfo = { uid: 0, home: "/root", xdgStateHome: undefined, hostname: "h", cwd: "/" };

Deno.test("option spec: an option without a default gives undefined, whatever the machine", () => {
  assert.equal(none(), undefined);
  const rows: OptionRows<"mtu" | "exitNode"> = {
    mtu: {
      type: "integer",
      default: "1420",
      validation: "576 to 65535",
      description: "the MTU",
      defaultValue: () => 1420,
      parse: integer(576, 65535),
    },
    exitNode: {
      type: "NAME",
      default: "none",
      validation: "a name",
      description: "an exit node",
      defaultValue: none,
    },
  };
  assert.equal(rows.exitNode.defaultValue(SYS), undefined);
  assert.equal(rows.mtu.defaultValue(SYS), 1420);
  assert.equal(rows.mtu.parse!(flagInput("1500", "--mtu"), { baseDir: "/", sys: SYS }), 1500);
});
