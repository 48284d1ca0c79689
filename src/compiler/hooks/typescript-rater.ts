/**
 * Compile-time check for TypeScript hook raters (`rater r = typescript("raters/x.ts") { export: "rate" }`).
 *
 * Loads the user's module with ts-morph and verifies that the named export exists and is assignable
 * to alignc's public `Rater` type (src/api/rater.ts).
 *
 * Importing this module loads ts-morph (and its bundled TypeScript), which takes about a second:
 * callers must import it dynamically (`await import("./hooks/typescript-rater.ts")`), and only when
 * a `.align` file actually declares a TypeScript rater.
 *
 * User errors (missing file, missing export, wrong type, syntax errors) are returned as values;
 * anything thrown is an internal error.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type Diagnostic, Node, Project, ts } from "ts-morph";
import { MAX_SOURCE_BYTES } from "../../diagnostics/source-file.ts";
import { checkUntrusted, describeRefusal } from "../../util/untrusted-file.ts";

/** A position in a file; `line` and `column` are 1-based. */
export interface Location {
  file: string;
  line: number;
  column: number;
}

export type TypescriptRaterProblem = "missing-file" | "missing-export" | "type-mismatch" | "syntax";

export type TypescriptRaterCheck =
  | { ok: true; declaration: Location }
  | {
      ok: false;
      problem: TypescriptRaterProblem;
      /** One-line summary, suitable as a diagnostic's headline. */
      message: string;
      /** Where the problem is in the user's code, when known. */
      declaration?: Location;
      /**
       * missing-file: the absolute path looked at; missing-export: the value exports the module does
       * have; type-mismatch: TypeScript's message chain, one line each (nesting kept as indentation);
       * syntax: the first few syntax errors, as "line:column message".
       */
      details: string[];
    };

/** Absolute path of the public rater API the candidate export is checked against. */
export const RATER_API_PATH: string = fileURLToPath(new URL("../../api/rater.ts", import.meta.url));

const MAX_SYNTAX_DETAILS = 5;
const CHECK_FILE_NAME = "__alignc_rater_check__.ts";

let cachedProject: Project | undefined;
/** Files (other than libs and node_modules) the last program read; re-read from disk on every call. */
const trackedFiles = new Set<string>();

function getProject(): Project {
  if (cachedProject === undefined) {
    cachedProject = new Project({
      skipAddingFilesFromTsConfig: true,
      skipFileDependencyResolution: true,
      compilerOptions: {
        strict: true,
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.ESNext,
        // Bundler resolution accepts both `./x.ts` / `./x.js` and extensionless relative imports,
        // whichever style the user's rater module uses.
        moduleResolution: ts.ModuleResolutionKind.Bundler,
        allowImportingTsExtensions: true,
        allowJs: true,
        noEmit: true,
        skipLibCheck: true,
        esModuleInterop: true,
        resolveJsonModule: true,
        // No DOM lib: it costs ~0.4 s to load and raters run under Node.
        lib: ["lib.es2022.d.ts"],
        // ts-morph bundles TypeScript 6, where `types` defaults to []. Load @types/node (resolved from
        // the working directory) so raters importing `node:*` modules keep real types instead of `any`.
        // It costs ~0.6 s on the first check; when it is not installed the resulting global
        // diagnostic is ignored (only diagnostics of the check file are looked at).
        types: ["node"],
      },
    });
    cachedProject.addSourceFileAtPath(RATER_API_PATH);
  }
  return cachedProject;
}

/**
 * Checks that `exportName` of the TypeScript module at `modulePath` is a valid alignc `Rater`.
 *
 * `modulePath` should be absolute (callers resolve it against the `.align` file's directory);
 * a relative path is resolved against the process's working directory. `exportName` may be
 * `"default"` for the default export.
 */
export function checkTypescriptRater(modulePath: string, exportName: string): TypescriptRaterCheck {
  const absPath = path.resolve(modulePath);
  // Through the untrusted reader's checks: a device, FIFO or huge file is refused before TypeScript opens it.
  const checked = checkUntrusted(absPath, { maxBytes: MAX_SOURCE_BYTES });
  if (!checked.ok) {
    return {
      ok: false,
      problem: "missing-file",
      message:
        checked.reason === "missing"
          ? `cannot find TypeScript rater module '${modulePath}'`
          : `cannot read TypeScript rater module '${modulePath}': ${describeRefusal(checked, MAX_SOURCE_BYTES)}`,
      details: [absPath],
    };
  }

  const project = getProject();
  refreshTrackedFiles(project);
  const userFile = project.addSourceFileAtPath(absPath);
  userFile.refreshFromFileSystemSync();
  const userPath = userFile.getFilePath();

  const program = project.getProgram();
  const syntaxErrors = program.getSyntacticDiagnostics(userFile);
  if (syntaxErrors.length > 0) {
    const first = syntaxErrors[0];
    const firstLocation = first === undefined ? undefined : diagnosticLocation(first);
    return {
      ok: false,
      problem: "syntax",
      message: `TypeScript rater module '${modulePath}' has ${plural(syntaxErrors.length, "syntax error")}`,
      ...(firstLocation === undefined ? {} : { declaration: firstLocation }),
      details: syntaxErrors.slice(0, MAX_SYNTAX_DETAILS).map(formatDiagnosticShort),
    };
  }

  const exported = userFile.getExportedDeclarations();
  const declarations = exported.get(exportName) ?? [];
  const valueDeclarations = declarations.filter((d) => !isTypeOnlyDeclaration(d));
  if (valueDeclarations.length === 0) {
    const available = [...exported.entries()]
      .filter(([, decls]) => decls.some((d) => !isTypeOnlyDeclaration(d)))
      .map(([name]) => name)
      .sort();
    const what = exportName === "default" ? "default export" : `export named '${exportName}'`;
    const typeOnly = declarations.length > 0 ? ` ('${exportName}' is exported only as a type)` : "";
    const firstType = declarations[0];
    return {
      ok: false,
      problem: "missing-export",
      message: `TypeScript rater module '${modulePath}' has no ${what}${typeOnly}`,
      ...(firstType === undefined ? {} : { declaration: nodeLocation(firstType) }),
      details: available,
    };
  }
  const declaration = nodeLocation(valueDeclarations[0]!);

  const checkFile = project.createSourceFile(
    path.join(path.dirname(RATER_API_PATH), CHECK_FILE_NAME),
    [
      `import type { Rater } from ${JSON.stringify(RATER_API_PATH)};`,
      `import { ${importName(exportName)} as __candidate } from ${JSON.stringify(userPath)};`,
      "const __check: Rater = __candidate;",
      "export {};",
      "",
    ].join("\n"),
    { overwrite: true },
  );
  const checkPath = checkFile.getFilePath();
  const problems = checkFile
    .getPreEmitDiagnostics()
    .filter((d) => d.getSourceFile()?.getFilePath() === checkPath && d.getCategory() === ts.DiagnosticCategory.Error);
  rememberProgramFiles(project, checkPath);

  if (problems.length === 0) return { ok: true, declaration };

  const details = problems.flatMap((d) =>
    ts
      .flattenDiagnosticMessageText(d.compilerObject.messageText, "\n")
      .split("\n")
      .map((line) => line.trimEnd())
      .filter((line) => line.trim() !== ""),
  );
  const innermost = details[details.length - 1]?.trim() ?? "not assignable to Rater";
  const name = exportName === "default" ? "default export" : `export '${exportName}'`;
  return {
    ok: false,
    problem: "type-mismatch",
    message: `${name} of '${modulePath}' does not match alignc's Rater type: ${innermost}`,
    declaration,
    details,
  };
}

/** Re-reads every user file the previous program used, so edits between checks are seen. */
function refreshTrackedFiles(project: Project): void {
  for (const filePath of trackedFiles) {
    const sf = project.getSourceFile(filePath);
    if (sf === undefined) {
      trackedFiles.delete(filePath);
      continue;
    }
    sf.refreshFromFileSystemSync();
    if (sf.wasForgotten()) trackedFiles.delete(filePath);
  }
}

function rememberProgramFiles(project: Project, checkPath: string): void {
  const program = project.getProgram().compilerObject;
  for (const sf of program.getSourceFiles()) {
    const filePath = sf.fileName;
    if (filePath === checkPath || filePath.includes("/node_modules/") || program.isSourceFileDefaultLibrary(sf)) continue;
    trackedFiles.add(filePath);
  }
}

function isTypeOnlyDeclaration(node: Node): boolean {
  return Node.isInterfaceDeclaration(node) || Node.isTypeAliasDeclaration(node);
}

function nodeLocation(node: Node): Location {
  let target: Node = node;
  if (Node.isFunctionDeclaration(node) || Node.isClassDeclaration(node) || Node.isVariableDeclaration(node)) {
    target = node.getNameNode() ?? node;
  }
  const sf = target.getSourceFile();
  const { line, column } = sf.getLineAndColumnAtPos(target.getStart());
  return { file: sf.getFilePath(), line, column };
}

function diagnosticLocation(d: Diagnostic): Location | undefined {
  const sf = d.getSourceFile();
  const start = d.getStart();
  if (sf === undefined || start === undefined) return undefined;
  const { line, column } = sf.getLineAndColumnAtPos(start);
  return { file: sf.getFilePath(), line, column };
}

function formatDiagnosticShort(d: Diagnostic): string {
  const text = ts.flattenDiagnosticMessageText(d.compilerObject.messageText, " ");
  const loc = diagnosticLocation(d);
  return loc === undefined ? text : `${loc.line}:${loc.column} ${text}`;
}

/** `rate` (and `default`) stay identifiers; other names use ES2022 string import names. */
function importName(exportName: string): string {
  return /^[\p{ID_Start}$_][\p{ID_Continue}$\u200C\u200D]*$/u.test(exportName) ? exportName : JSON.stringify(exportName);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
