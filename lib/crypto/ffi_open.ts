/**
 * Opens the first of several shared libraries that loads with the given symbols and passes a
 * check, for the FFI crypto backends (libsodium, libcrypto).
 * @module
 */

/**
 * The first library of `paths` (bare names go through the dynamic loader's search) that opens
 * with `symbols` and for which `usable` is true, or null: when none does, or FFI is not
 * permitted (checked first, so there is never an interactive permission prompt). A library that
 * fails `usable` is closed again.
 */
export function openFirstLibrary<S extends Deno.ForeignLibraryInterface>(
  paths: readonly string[],
  symbols: S,
  usable: (lib: Deno.DynamicLibrary<S>) => boolean,
): Deno.DynamicLibrary<S> | null {
  let state: Deno.PermissionState;
  try {
    state = Deno.permissions.querySync({ name: "ffi" }).state;
  } catch {
    return null;
  }
  if (state !== "granted") return null;
  for (const path of paths) {
    let lib: Deno.DynamicLibrary<S>;
    try {
      lib = Deno.dlopen(path, symbols);
    } catch {
      continue; // missing file, or a library lacking one of the symbols
    }
    if (usable(lib)) return lib;
    lib.close();
  }
  return null;
}
