// `npm run build` — also npm's `prepare` script, so `npm ci` runs it: bundles the CLI (src/cli/main.ts, what it imports,
// and the pure-JavaScript packages it uses) with esbuild into dist/, so `alignc` starts without transpiling TypeScript
// or loading a thousand small modules. Every dynamic import stays one: each command (src/cli/commands.ts) and the
// TypeScript rater check are chunks loaded only when used.
//
// dist/build.json lists every file the bundle was made from with its size, modification time and SHA-256. bin/alignc.js
// runs dist/ only while those files are as listed, and otherwise the sources through tsx (with a note to run this).
//
// Kept out of the bundle, and loaded from node_modules when needed: onnxruntime-node (a native addon that finds its
// libraries next to itself), ts-morph and typescript (TypeScript reads its lib .d.ts files from its package folder, and
// they are needed only for TypeScript raters), tsx (its loader runs from its own files), and esbuild and
// playwright-core, should the sources ever import them (they run programs that ship inside their packages).
//
// The sources find files relative to themselves with `new URL("…", import.meta.url)` (alignc's own source digest in
// align.lock, src/api/rater.ts for the TypeScript rater check, bin/alignc.js for sweep trials). In a bundle
// import.meta.url is the chunk's, so each module's `import.meta.url` is replaced by its source file's URL, computed from
// the chunk's: every output file lies directly in dist/, so a module's URL is `new URL("../src/…", import.meta.url)`.
import { createHash } from "node:crypto";
import { readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const root = fileURLToPath(new URL("../", import.meta.url));
const OUT = "dist";
const ENTRY = "src/cli/main.ts";
/** What bin/alignc.js imports. */
const ENTRY_OUT = "alignc.js";
/** The build script is an input too: changing how dist/ is made makes it stale. */
const THIS_FILE = "scripts/build.ts";
const EXTERNAL = new Set(["onnxruntime-node", "ts-morph", "typescript", "tsx", "esbuild", "playwright-core"]);

/** The format of dist/build.json that bin/alignc.js reads. */
interface BuildStamp {
  format: 1;
  built: string;
  entry: string;
  esbuild: string;
  /** Path relative to the package root (with `/`) → what it was when the bundle was made. */
  inputs: Record<string, { size: number; mtimeMs: number; sha256: string }>;
}

/** The package a bare import names: `@scope/name` or `name`. */
const packageOf = (specifier: string) =>
  specifier
    .split("/")
    .slice(0, specifier.startsWith("@") ? 2 : 1)
    .join("/");

const alignc: esbuild.Plugin = {
  name: "alignc",
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) => (EXTERNAL.has(packageOf(args.path)) ? { path: args.path, external: true } : undefined));
    build.onLoad({ filter: /\.ts$/ }, (args) => {
      if (args.path.split(path.sep).includes("node_modules")) return undefined;
      const text = readFileSync(args.path, "utf8");
      const other = /import\.meta\.(?!url\b)\w+/.exec(text);
      if (other)
        throw new Error(`${path.relative(root, args.path)} uses ${other[0]}; scripts/build.ts replaces only import.meta.url with the source file's URL`);
      const fromOut = path.relative(path.join(root, OUT), args.path).split(path.sep).join("/");
      return { contents: text.replaceAll("import.meta.url", `new URL(${JSON.stringify(fromOut)}, import.meta.url).href`), loader: "ts" };
    });
  },
};

/** The files a bundle depends on: its project sources, and the package.json of each package bundled into it. */
function inputsOf(metafile: esbuild.Metafile): string[] {
  const files = new Set<string>([THIS_FILE]);
  for (const input of Object.keys(metafile.inputs)) {
    const parts = input.split("/");
    const nm = parts.lastIndexOf("node_modules");
    if (nm < 0) files.add(input);
    else files.add([...parts.slice(0, nm + (parts[nm + 1]?.startsWith("@") ? 3 : 2)), "package.json"].join("/"));
  }
  return [...files].sort();
}

function stampOf(inputs: string[]): BuildStamp["inputs"] {
  const out: BuildStamp["inputs"] = {};
  for (const file of inputs) {
    const full = path.join(root, file);
    const st = statSync(full);
    out[file] = { size: st.size, mtimeMs: st.mtimeMs, sha256: createHash("sha256").update(readFileSync(full)).digest("hex") };
  }
  return out;
}

const t0 = performance.now();
// Built beside dist/ and then put in its place, so dist/ never holds half a build.
const tmp = `.dist-${process.pid}`;
rmSync(path.join(root, tmp), { recursive: true, force: true });
try {
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: { [ENTRY_OUT.replace(/\.js$/, "")]: ENTRY },
    outdir: tmp,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    chunkNames: "chunk-[hash]",
    // grammar/parser.ts skips Chevrotain's grammar validations in the bundle (they run from the sources, in the tests).
    define: { "process.env.ALIGNC_BUNDLE": '"1"' },
    // Error names and stack traces read as in the sources.
    keepNames: true,
    sourcemap: "linked",
    // Bundled CommonJS packages (pngjs, ajv) call require for Node's modules; in an ES module it must be made.
    banner: { js: 'import { createRequire as __alignc_createRequire } from "node:module";\nconst require = __alignc_createRequire(import.meta.url);' },
    metafile: true,
    logLevel: "warning",
    plugins: [alignc],
  });
  const inputs = inputsOf(result.metafile);
  const stamp: BuildStamp = { format: 1, built: new Date().toISOString(), entry: ENTRY_OUT, esbuild: esbuild.version, inputs: stampOf(inputs) };
  writeFileSync(path.join(root, tmp, "build.json"), `${JSON.stringify(stamp, null, 1)}\n`);
  rmSync(path.join(root, OUT), { recursive: true, force: true });
  renameSync(path.join(root, tmp), path.join(root, OUT));
  const sources = inputs.filter((f) => !f.includes("node_modules/")).length;
  const files = Object.keys(result.metafile.outputs).filter((f) => f.endsWith(".js")).length;
  console.log(
    `alignc build: ${OUT}/ (${files} files) from ${sources} sources and ${inputs.length - sources} bundled packages in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
} catch (error) {
  rmSync(path.join(root, tmp), { recursive: true, force: true });
  // esbuild has printed its errors; anything else is printed here.
  if (!(error instanceof Error && "errors" in error)) console.error(error);
  console.error("alignc build: failed; bin/alignc.js runs the sources through tsx until `npm run build` succeeds");
  process.exitCode = 1;
}
