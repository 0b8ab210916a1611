/**
 * Runs a backend's loader in a child process that has no FFI permission (and may not be asked
 * for it), for the tests that it returns null there rather than failing.
 * @module
 */

/** What `loader()` from `moduleUrl` returned without FFI permission, as JSON text. */
export async function loadWithoutFfi(moduleUrl: string, loader: string): Promise<string> {
  const dir = await Deno.makeTempDir();
  try {
    const script = `${dir}/probe.ts`;
    await Deno.writeTextFile(
      script,
      `import { ${loader} } from "${moduleUrl}";\nconsole.log(JSON.stringify(${loader}()));\n`,
    );
    // No --allow-* flags: FFI is not granted (and --no-prompt keeps it from being asked).
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--no-check", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
    return new TextDecoder().decode(out.stdout).trim();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
