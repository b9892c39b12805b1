// A copy of the installed package in a temp folder, as `npm ci` leaves it but without a built runtime:
// package.json, the compiled dist/, the runtime's sources (kernels-c/Makefile and src/); node_modules,
// fixtures/ and scripts/ are links back to this checkout (read only). The copy's code finds its own
// package root from its own location, so its runtime is <copy>/kernels-c/build/bitconv-rt, built (or
// not) by whatever the test does, and this checkout's build is never touched.
import { cpSync, mkdirSync, symlinkSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(new URL("../../..", import.meta.url).pathname);

export function packageCopy(dir: string): { root: string; cli: string; bench: string } {
  mkdirSync(join(dir, "kernels-c"), { recursive: true });
  cpSync(join(ROOT, "package.json"), join(dir, "package.json"));
  cpSync(join(ROOT, "dist"), join(dir, "dist"), { recursive: true });
  cpSync(join(ROOT, "kernels-c/Makefile"), join(dir, "kernels-c/Makefile"));
  cpSync(join(ROOT, "kernels-c/src"), join(dir, "kernels-c/src"), { recursive: true });
  for (const d of ["node_modules", "fixtures", "scripts"]) symlinkSync(join(ROOT, d), join(dir, d));
  return { root: dir, cli: join(dir, "dist/src/cli.js"), bench: join(dir, "dist/scripts/bench.js") };
}
