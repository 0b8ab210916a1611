import assert from "node:assert/strict";
import { generate, ROUNDS_PATH } from "./blake2s_rounds.ts";

Deno.test("gen: lib/relay/blake2s_rounds.ts is what scripts/gen/blake2s_rounds.ts writes, byte for byte", async () => {
  const committed = await Deno.readTextFile(new URL(`../../${ROUNDS_PATH}`, import.meta.url));
  assert.ok(
    committed === generate(),
    `${ROUNDS_PATH} differs from its generator's output: edit scripts/gen/blake2s_rounds.ts ` +
      "and run `deno run -W scripts/gen/blake2s_rounds.ts`, never the generated file",
  );
});
