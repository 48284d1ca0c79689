// The one table of every user-visible diagnostic: stable code, severity, message, optional help and the
// long explanation printed by `alignc explain ALNxxxx`. Codes never change meaning once released.
//   ALN0xxx  reading sources          ALN1xxx  syntax
//   ALN2xxx  names, imports, keys     ALN3xxx  types, values, units, ranges, pipeline shape
//   ALN4xxx  params, sweeps, CLI      ALN5xxx  hooks (TypeScript raters)
//   ALN6xxx  run-time input: data files, images, checkpoints and program files (docs/security.md)
//   ALN7xxx  run-time failures: one code per kind of failure a run or a command can meet; the error classes
//            that raise them declare the code (`readonly code = "ALN7001"`) and say what happened in their
//            message; test/failures.test.ts ties classes and codes together
//   ALN9xxx  limits
import type { Severity } from "./diagnostic.ts";

interface MessageDef<A> {
  code: string;
  severity: Severity;
  message: (args: A) => string;
  help?: (args: A) => string;
  explain: string;
  /** Run-time failures (ALN7xxx): the error classes that carry this code. */
  raisedBy?: readonly string[];
}

function def<A = Record<string, never>>(
  code: string,
  severity: Severity,
  message: (args: A) => string,
  explain: string,
  help?: (args: A) => string,
): MessageDef<A> {
  return help ? { code, severity, message, explain, help } : { code, severity, message, explain };
}

/**
 * A run-time failure (ALN7xxx): the message is the error's own (it names the node, file or setting and what to do);
 * the table gives the code, the classes that raise it and the explanation.
 */
function failure(code: string, raisedBy: readonly string[], explain: string): MessageDef<{ detail: string }> {
  return { code, severity: "error", message: (a) => a.detail, explain, raisedBy };
}

const q = (s: string) => `'${s}'`;

/** "a model", "an evaluate"; a placeholder (docs) reads "a(n) ‹found›". Exported for labels elsewhere. */
export function withArticle(word: string): string {
  if (word.startsWith("‹")) return `a(n) ${word}`;
  return `${/^[aeiou]/i.test(word) ? "an" : "a"} ${word}`;
}

export const messages = {
  // ── ALN0xxx reading sources ────────────────────────────────────────────────
  fileNotFound: def<{ path: string }>(
    "ALN0001",
    "error",
    (a) => `cannot read ${q(a.path)}: no such file`,
    "The file named on the command line or in an `import` does not exist. Paths in `import` are relative to the importing file.",
    () => "check the path; imports are relative to the file that contains them",
  ),
  fileIsDirectory: def<{ path: string }>(
    "ALN0002",
    "error",
    (a) => `${q(a.path)} is a directory, not a .align file`,
    "alignc reads one .align file per command (plus its imports). Name a file inside the directory.",
    (a) => `name a file, e.g. ${a.path.replace(/\/$/, "")}/main.align`,
  ),
  fileUnreadable: def<{ path: string; reason: string }>(
    "ALN0003",
    "error",
    (a) => `cannot read ${q(a.path)}: ${a.reason}`,
    "The operating system refused to read the file (permissions, a broken link, an I/O error).",
  ),
  invalidUtf8: def<{ offset: number }>(
    "ALN0004",
    "error",
    (a) => `the file is not valid UTF-8 (first bad byte at offset ${a.offset})`,
    ".align files are UTF-8 text. A binary file, or text saved in another encoding (Latin-1, UTF-16), cannot be read.",
    () => "save the file as UTF-8",
  ),
  fileTooLarge: def<{ size: number; limit: number }>(
    "ALN0005",
    "error",
    (a) => `the file is ${a.size} bytes; alignc reads .align files up to ${a.limit} bytes`,
    "An .align file describes an experiment, not data. Put data in dataset files and refer to them with `file(...)`.",
  ),
  nulByte: def(
    "ALN0006",
    "error",
    () => "the file contains a NUL byte: it looks like a binary file",
    "A NUL byte never appears in .align text; the file is probably binary or was corrupted.",
  ),

  sourceNotRegular: def<{ path: string; kind: string }>(
    "ALN0007",
    "error",
    (a) => `${q(a.path)} is ${a.kind}, not a regular file`,
    "alignc reads .align files and their imports only from regular files. Devices (such as /dev/zero), FIFOs and sockets are refused before they are opened, so reading a source can never block or grow without end.",
    () => "name a .align file",
  ),

  // ── ALN1xxx syntax ────────────────────────────────────────────────────────
  unexpectedCharacter: def<{ text: string }>(
    "ALN1001",
    "error",
    (a) => `unexpected character ${a.text}`,
    "The lexer met a character that starts no token of the language. Strings use double quotes; comments use // or /* */.",
  ),
  unterminatedString: def(
    "ALN1002",
    "error",
    () => "unterminated string: the line ends before the closing quote",
    'Strings are written in double quotes on one line: "runs/vit". Escape a quote inside a string as \\".',
    () => 'add the closing " before the end of the line',
  ),
  unterminatedComment: def(
    "ALN1003",
    "error",
    () => "unterminated block comment: /* has no matching */",
    "A block comment runs from /* to the next */. Without the closing marker it swallows the rest of the file.",
    () => "close the comment with */",
  ),
  syntaxError: def<{ expected: string; found: string }>(
    "ALN1004",
    "error",
    (a) => `expected ${a.expected}, found ${a.found}`,
    "The parser expected a different token here. The message lists what could come next; the underline marks what was found.",
  ),
  unclosedDelimiter: def<{ open: string; close: string }>(
    "ALN1005",
    "error",
    (a) => `${q(a.open)} is never closed`,
    "Every {, [ and ( needs its closing partner. The label points at the opening one that was never closed.",
    (a) => `add ${q(a.close)}`,
  ),
  nestingTooDeep: def<{ limit: number }>(
    "ALN1006",
    "error",
    (a) => `nesting is deeper than ${a.limit} levels`,
    "Blocks, lists and parentheses may nest up to a fixed depth. Deeper nesting is almost certainly a mistake or generated garbage.",
  ),
  missingVersionLine: def(
    "ALN1007",
    "error",
    () => "the file must start with a version line such as `align 1`",
    "Every .align file begins with `align N`, the language version it is written in, so future versions can read it safely.",
    () => "add `align 1` as the first line",
  ),
  unsupportedVersion: def<{ version: string; supported: number }>(
    "ALN1008",
    "error",
    (a) => `this alignc reads language version ${a.supported}, the file says ${a.version}`,
    "The version line names the language version. This alignc only understands the version(s) it lists.",
    (a) => `write \`align ${a.supported}\``,
  ),
  unmatchedCloser: def<{ text: string }>(
    "ALN1009",
    "error",
    (a) => `${q(a.text)} has no matching opening bracket`,
    "A closing }, ] or ) appears where nothing is open.",
    () => "remove it, or add the opening bracket it belongs to",
  ),

  tooManyTokens: def<{ limit: number; count: number }>(
    "ALN1010",
    "error",
    (a) => `the file has ${a.count} tokens; alignc reads at most ${a.limit}`,
    "An .align file describes an experiment; data belongs in dataset files. A file this large is almost certainly generated by mistake.",
    () => "move long lists of values into a data file and refer to it with file(...)",
  ),

  numberTooLarge: def<{ text: string; limit: string }>(
    "ALN1011",
    "error",
    (a) => `the number ${a.text} is too large: the limit is ${a.limit}`,
    "Numbers are double-precision values and integers must be exact. A literal beyond the limit would silently become Infinity or a rounded integer, so it is rejected where it is written.",
  ),
  mismatchedCloser: def<{ found: string; open: string; close: string }>(
    "ALN1012",
    "error",
    (a) => `${q(a.found)} does not close ${q(a.open)}`,
    "Brackets close in the reverse order they were opened: the innermost open bracket must be closed first. The label points at the bracket that is still open.",
    (a) => `write ${q(a.close)}`,
  ),
  expressionTooDeep: def<{ depth: number; limit: number }>(
    "ALN1013",
    "error",
    (a) => `this expression nests ${a.depth} levels deep; alignc accepts at most ${a.limit}`,
    "Every operator, bracket, call and block of an expression is one level of nesting: `a + b + c` is two levels deep, because `+` groups to the left. alignc accepts expressions up to a fixed depth, far beyond anything an experiment needs; a longer chain is almost certainly generated by mistake. The whole expression is reported once and not checked further.",
    () => "split it: compute parts in params or separate declarations, or write the value out",
  ),

  // ── ALN2xxx names, imports, keys ─────────────────────────────────────────
  unknownName: def<{ name: string; kind: string }>(
    "ALN2001",
    "error",
    (a) => `unknown ${a.kind} ${q(a.name)}`,
    "A reference names nothing declared in this file or its imports. Declarations can appear in any order, but must exist.",
  ),
  duplicateDeclaration: def<{ name: string }>(
    "ALN2002",
    "error",
    (a) => `${q(a.name)} is declared more than once`,
    "Every model, dataset, rater, similarity, phase, sweep, evaluate and param name must be unique across a file and its plain imports.",
    () => "rename one of them, or import the other file with `as name` to keep its names apart",
  ),
  unknownKey: def<{ key: string; construct: string }>(
    "ALN2003",
    "error",
    (a) => `${a.construct} has no setting ${q(a.key)}`,
    "A block sets keys that the construct does not know. `docs/language.md` lists the settings of every construct.",
  ),
  duplicateKey: def<{ key: string }>(
    "ALN2004",
    "error",
    (a) => `setting ${q(a.key)} is given twice`,
    "A key may appear once per block.",
    () => "remove one of them",
  ),
  missingKey: def<{ key: string; construct: string }>(
    "ALN2005",
    "error",
    (a) => `${a.construct} needs a setting ${q(a.key)}`,
    "This setting has no default and must be given.",
  ),
  importCycle: def<{ cycle: string }>(
    "ALN2006",
    "error",
    (a) => `import cycle: ${a.cycle}`,
    "Files may not import each other in a circle. Move the shared declarations into a third file that both import.",
  ),
  unknownConstructor: def<{ name: string; category: string }>(
    "ALN2007",
    "error",
    (a) => `${q(a.name)} is not a ${a.category} constructor`,
    "The right-hand side of a declaration must build a value of the declared kind: `model m = tinyvlm {…}`, `dataset d = shapes {…}`, `rater r = grounded {…}` and so on.",
  ),
  unknownMember: def<{ path: string; member: string }>(
    "ALN2008",
    "error",
    (a) => `${q(a.path)} has no member ${q(a.member)}`,
    "A dotted reference walks into a declaration's settings (`dpo.objective.beta`), a namespaced import (`common.sft`) or the parts of a split (`parts.train`). The next name is not there.",
  ),
  selfImport: def<{ path: string }>("ALN2009", "error", (a) => `${q(a.path)} imports itself`, "A file cannot import itself."),
  paramAsBareName: def<{ name: string }>(
    "ALN2010",
    "error",
    (a) => `${q(a.name)} is a param: write it as \${${a.name}}`,
    "Params are template values and are always written `${name}`, so that a reader sees at a glance which values a sweep or `--set` can change.",
    (a) => `write \${${a.name}}`,
  ),
  referenceCycle: def<{ cycle: string }>(
    "ALN2011",
    "error",
    (a) => `declarations depend on each other in a cycle: ${a.cycle}`,
    "The pipeline must be a directed acyclic graph: a stage cannot consume its own output, directly or through other stages.",
  ),

  importFailed: def<{ name: string; path: string }>(
    "ALN2012",
    "error",
    (a) => `cannot resolve ${q(a.name)}: the import of ${q(a.path)} failed`,
    "The name may be declared in an imported file that could not be read (its own error is reported at the import). Each declaration that needs it is reported once; fix the import first.",
  ),
  argumentGivenTwice: def<{ callee: string; name: string }>(
    "ALN2013",
    "error",
    (a) => `${a.callee}'s argument ${q(a.name)} is given twice`,
    'A constructor\'s argument is written once: in parentheses (`cosine(enc)`) or, where the constructor allows it, by its name in the block (`cosine { model: hf("…") }`). The reference in docs/language.md says which arguments may be written by name.',
    () => "keep one of them",
  ),

  // ── ALN3xxx types and values ─────────────────────────────────────────────
  typeMismatch: def<{ expected: string; found: string }>(
    "ALN3001",
    "error",
    (a) => `expected ${a.expected}, found ${a.found}`,
    "The value has the wrong type for this place. Numbers, durations (30s), percentages (3%), ranges (0..4), lists, strings, symbols and references are distinct types.",
  ),
  // `range` is a whole phrase so the sentence reads naturally: "in [0, 1]", "> 0", "one of {8, 16}".
  outOfRange: def<{ what: string; value: string; range: string }>(
    "ALN3002",
    "error",
    (a) => `${a.what} must be ${a.range}, got ${a.value}`,
    "The value is outside the range the setting allows. The range is part of the setting's type, documented in docs/language.md.",
  ),
  unknownSymbol: def<{ value: string; allowed: string }>(
    "ALN3003",
    "error",
    (a) => `${q(a.value)} is not one of ${a.allowed}`,
    "This setting takes one of a fixed set of symbols.",
  ),
  wrongDeclarationKind: def<{ name: string; expected: string; found: string }>(
    "ALN3004",
    "error",
    (a) => `${q(a.name)} is ${withArticle(a.found)}, but ${withArticle(a.expected)} is needed here`,
    "References are typed: a stage that needs a model cannot take a dataset, a preference phase needs pairs, and so on.",
  ),
  wrongDatasetKind: def<{ name: string; expected: string; found: string }>(
    "ALN3005",
    "error",
    (a) => `${q(a.name)} holds ${a.found}, but ${a.expected} are needed here`,
    "Datasets carry the kind of record they hold: prompts, samples, rated samples or pairs. `sample` turns prompts into samples, `rate` samples into rated samples, `pair` rated samples into pairs; preference phases train on pairs.",
  ),
  unknownAspect: def<{ aspect: string; rater: string; aspects: string }>(
    "ALN3006",
    "error",
    (a) => `aspect ${q(a.aspect)} is not scored by rater ${q(a.rater)} (it scores ${a.aspects})`,
    "A score expression may only use the aspects that the rater of the rated samples declares.",
  ),
  marginOutsideScale: def<{ margin: string; max: string }>(
    "ALN3007",
    "error",
    (a) => `margin ${a.margin} can never be met: the score expression ranges over at most ${a.max}`,
    "The margin compares two values of the score expression. If it exceeds the expression's largest possible spread (computed from the rater's scale), no pair can ever be made.",
  ),
  wrongArgumentCount: def<{ callee: string; expected: string; found: number }>(
    "ALN3008",
    "error",
    (a) => `${a.callee} takes ${a.expected}, got ${a.found}`,
    "The constructor was called with the wrong number of positional arguments.",
  ),
  emptyList: def<{ what: string }>("ALN3009", "error", (a) => `${a.what} must not be empty`, "This list needs at least one element."),
  badRange: def<{ lo: string; hi: string }>(
    "ALN3010",
    "error",
    (a) => `range ${a.lo}..${a.hi} is empty: the lower end is above the upper end`,
    "A range a..b includes both ends and needs a ≤ b.",
  ),
  conflictingKeys: def<{ a: string; b: string }>(
    "ALN3011",
    "error",
    (a) => `${q(a.a)} and ${q(a.b)} cannot both be set`,
    "These settings are alternatives; choose one.",
  ),
  needsOneOf: def<{ keys: string }>("ALN3012", "error", (a) => `one of ${a.keys} must be set`, "These settings are alternatives and one of them is required."),
  invalidValue: def<{ what: string; reason: string }>(
    "ALN3013",
    "error",
    (a) => `invalid ${a.what}: ${a.reason}`,
    "The value has the right type but is not acceptable here; the message says why.",
  ),
  unknownField: def<{ field: string; fields: string }>(
    "ALN3014",
    "error",
    (a) => `unknown field ${q(a.field)} (available: ${a.fields})`,
    "An expression refers to a field the records do not have.",
  ),
  weightsDoNotSum: def<{ sum: string }>("ALN3015", "error", (a) => `weights must add up to 1, they add up to ${a.sum}`, "Mixing weights are probabilities."),
  expressionNotAllowed: def<{ what: string }>(
    "ALN3016",
    "error",
    (a) => `${a.what} is not allowed here`,
    "Arithmetic, comparisons and boolean operators are only allowed in score expressions, filters and param arithmetic.",
  ),
  unusedDeclaration: def<{ name: string; kind: string }>(
    "ALN3017",
    "warning",
    (a) => `${a.kind} ${q(a.name)} is declared but never used`,
    "Nothing in the pipeline consumes this declaration: no phase, evaluation, stage or export uses what it produces. It is still a node of the execution graph, so `alignc run` computes it (a dataset is generated or read, a model initialised) and stores its output, but nothing is made from it. Use it, or remove it to save the work.",
  ),
  invalidSettingValue: def<{ what: string; value: string; expected: string }>(
    "ALN3018",
    "error",
    (a) => `${a.what}: invalid value ${a.value}; expected ${a.expected}`,
    "The value has the right type but not the required form, for example a device name or a TypeScript identifier.",
  ),
  badExportPath: def<{ path: string; problem: string }>(
    "ALN3019",
    "error",
    (a) => `export path ${JSON.stringify(a.path)} ${a.problem}`,
    "`export` writes its file into the run directory, at a path relative to it. The path must name a file (not end in `/`), stay inside the run directory (no absolute path, no `..` that leaves it), and stay out of the names alignc keeps there: plan.json, align.lock, store, outputs, metrics, evaluations, logs, checkpoints and tensorboard.",
    () => 'give a file path inside the run directory, e.g. "exports/pairs.trl.jsonl"',
  ),
  notRunnableKind: def<{ ctor: string; kind: string; reason: string }>(
    "ALN3020",
    "error",
    (a) => `${q(a.ctor)} is not supported by alignc run yet: ${a.reason}`,
    "The language can describe this constructor, but this version of the runtime has no executor for its node kind, so `alignc run` could not run the declaration; `check` refuses it instead of letting a run fail after its upstream work. Which kinds and settings the runtime runs is declared once, with the node kinds' versions, in src/graph/node-kinds.ts; the constructor reference in docs/language.md lists what is not supported yet.",
  ),
  notRunnableSetting: def<{ setting: string; value: string; ctor: string; reason: string; only: string }>(
    "ALN3021",
    "error",
    (a) => `${a.setting} ${a.value} in ${a.ctor}(…) is not supported by alignc run yet: ${a.reason}`,
    "The setting is part of the language, but this constructor's executor does not implement it (or implements only its default) yet, so `alignc run` would refuse the phase; `check` refuses it instead of letting a run fail after its upstream work. The settings each node kind does not support are declared with the node kinds in src/graph/node-kinds.ts and listed in the constructor reference of docs/language.md.",
    (a) => (a.only ? `write ${a.setting.split(".").pop()}: ${a.only}` : `remove ${a.setting.split(".").pop()}`),
  ),
  inputPathMissing: def<{ what: string; path: string; lookedFor: string }>(
    "ALN3022",
    "error",
    (a) => `${a.what} ${q(a.path)} does not exist${a.lookedFor ? ` (looked for ${a.lookedFor})` : ""}`,
    "A file or directory the declaration names (a data file, a checkpoint directory) is not there, so `alignc run` would fail when it reaches it. Paths are relative to the .align file that writes them (an imported file's paths to the imported file). `check` only looks the path up; it never opens or reads it.",
    () => "check the path (paths in a .align file are relative to that file)",
  ),
  inputPathUnusable: def<{ what: string; path: string; problem: string }>(
    "ALN3023",
    "error",
    (a) => `${a.what} ${q(a.path)} ${a.problem}`,
    "The path names something, but not what the declaration needs: a data file must be a regular file (not a directory, a device or a FIFO), a checkpoint directory a directory holding config.json, tokenizer.json and model.safetensors. `check` looks at what the path is (its metadata) without opening it.",
  ),
  hfConfigUnreadable: def<{ path: string; detail: string }>(
    "ALN3024",
    "error",
    (a) => `Hugging Face checkpoint ${q(a.path)} has no readable config.json: ${a.detail}`,
    "`hf(path)` names a Hugging Face checkpoint directory, and `check` reads its config.json (through the same reader as every file that is not alignc's: a regular file of at most 16 MiB, strict UTF-8 JSON with no duplicate keys) to know the architecture and sizes. The weights are never read at check time. A directory downloaded with `huggingface-cli download` or saved by `save_pretrained` has one.",
    () => "point hf(…) at the directory that holds config.json, tokenizer.json and the .safetensors weights",
  ),
  hfUnsupportedArchitecture: def<{ path: string; found: string; supported: string }>(
    "ALN3025",
    "error",
    (a) => `Hugging Face checkpoint ${q(a.path)}: architecture ${a.found} is not supported`,
    "alignc computes a Hugging Face model with its own tensor programs, so it reads only the architectures whose layers it implements, by `architectures[0]` in config.json: the decoder-only LlamaForCausalLM (Llama, SmolLM2, Vicuna), Qwen2ForCausalLM (Qwen2, Qwen2.5) and MistralForCausalLM, and LlavaForConditionalGeneration (LLaVA-1.5, llava-interleave: a CLIP or SigLIP tower before one of those decoders). LLaVA-NeXT, Qwen2-VL and SmolVLM come later (docs/hf-models.md).",
    (a) => `supported architectures: ${a.supported}`,
  ),
  hfConfigRefused: def<{ path: string; detail: string }>(
    "ALN3026",
    "error",
    (a) => `config.json of Hugging Face checkpoint ${q(a.path)}: ${a.detail}`,
    "The config.json is there and names a supported architecture, but alignc cannot use what it says: a required size is missing or not a positive integer, num_key_value_heads does not divide num_attention_heads, a RoPE scaling alignc does not compute (it computes none, linear and llama3), or an activation other than SiLU. Both layouts are read: the hub's (transformers 4: rope_theta, rope_scaling, torch_dtype) and transformers 5's (rope_parameters, dtype).",
  ),
  hfFilesMissing: def<{ path: string; problem: string }>(
    "ALN3027",
    "error",
    (a) => `Hugging Face checkpoint ${q(a.path)} ${a.problem}`,
    "A Hugging Face checkpoint directory needs, besides config.json, its tokenizer (tokenizer.json) and its weights: model.safetensors, or the shards that model.safetensors.index.json lists, each beside the index. `check` looks these files up and reads the index, never the weights.",
  ),
  loraTargetWrongModel: def<{ target: string; model: string; family: string; targets: string }>(
    "ALN3028",
    "error",
    (a) => `LoRA target ${q(a.target)} is not a module of ${q(a.model)}, ${withArticle(a.family)} model (its targets: ${a.targets})`,
    "LoRA targets name weights of the phase's model. TinyVLM models take alignc's names (q, k, v, o, mlp_in, mlp_out, projector, vision); Hugging Face models (`hf(path)`) take their modules' names, as PEFT's target_modules does: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj. A phase trained from another phase takes the targets of the model it started from.",
  ),
  maxTokensOverContext: def<{ setting: string; value: number; model: string; limit: number }>(
    "ALN3029",
    "error",
    (a) => `${a.setting} ${a.value} is more than ${q(a.model)} can attend to (max_position_embeddings ${a.limit})`,
    "A Hugging Face model's config.json says how many positions it was trained for (max_position_embeddings); generating more tokens than that cannot work, even before the prompt's tokens are counted.",
    (a) => `use at most ${a.limit}`,
  ),
  projectorLrWithoutProjector: def<{ model: string; architecture: string }>(
    "ALN3030",
    "error",
    (a) => `lora.projector_lr trains a multimodal projector, and ${q(a.model)} (${a.architecture}) has none`,
    "`projector_lr` trains a vision-language model's projector fully (at its own learning rate) beside the LoRA adapters, as LLaVA's recipes do. TinyVLM models and Hugging Face LLaVA checkpoints have a projector; a Hugging Face text decoder (Llama, Qwen2, Mistral) has none.",
    () => "remove projector_lr",
  ),
  hfProcessorRefused: def<{ path: string; detail: string }>(
    "ALN3031",
    "error",
    (a) => `image processor settings of Hugging Face checkpoint ${q(a.path)}: ${a.detail}`,
    "A vision-language checkpoint needs its image processor's settings — preprocessor_config.json as the hub has it, or the `image_processor` entry of processor_config.json as transformers 5 saves it — and alignc reproduces the processors it names (CLIPImageProcessor, LlavaImageProcessor, LlavaNextImageProcessor, SiglipImageProcessor; docs/hf-models.md). `check` reads the file (a small JSON file) and checks that its pixel values fit the vision tower (vision_config.image_size) and, for LLaVA-NeXT, that it tiles at the tower's size over config.json's image_grid_pinpoints.",
  ),
  hfWeightsAbsent: def<{ path: string; missing: string }>(
    "ALN3032",
    "info",
    (a) => `Hugging Face checkpoint ${q(a.path)} holds its weight index but not the shards it names (${a.missing}); check and plan go on, run needs them`,
    "A checkpoint's JSON files (config.json, the processor's settings, tokenizer.json, model.safetensors.index.json) say everything `check` and `plan` need: architecture and sizes, LoRA targets, context length, parameter counts. So a directory downloaded with only them (`huggingface-cli download … --include \"*.json\"`) checks and plans a paper-scale recipe on a laptop; `run` loads the shards and fails (ALN7025) where one is missing.",
  ),

  hfEncoderMisused: def<{ model: string; architecture: string; ctor: string }>(
    "ALN3033",
    "error",
    (a) => `${q(a.model)} is a sentence encoder (${a.architecture}); alignc uses encoders only as a cosine similarity's model, not in ${a.ctor}`,
    "A Hugging Face checkpoint whose config.json names BertModel or MPNetModel (or their masked-LM forms: all-mpnet-base-v2 says MPNetForMaskedLM) is a sentence encoder: it embeds texts and generates none. alignc reads one for `cosine(model)` (declared and named, or written in place: `cosine { model: hf(…) }`), the similarity BDHS compares its attempts with the ground truth by (docs/bdhs.md); sampling, rating, training and evaluating need a decoder or a vision-language model.",
    (a) => `declare \`similarity sim = cosine(${a.model})\` and give sim to bdhs`,
  ),

  // ── ALN4xxx params, sweeps, CLI ──────────────────────────────────────────
  unknownParam: def<{ name: string }>(
    "ALN4001",
    "error",
    (a) => `unknown param ${q(a.name)}`,
    "`${name}` must name a `param` declared in this file or its imports, and `--set name=value` must name one too.",
  ),
  paramWithoutValue: def<{ name: string }>(
    "ALN4002",
    "error",
    (a) => `param ${q(a.name)} has no default and no value was given`,
    "A param without a default needs a value from `--set`, or from a sweep that covers it.",
    (a) => `add \`= value\` to the declaration, or pass --set ${a.name}=…`,
  ),
  badSetArgument: def<{ text: string }>(
    "ALN4003",
    "error",
    (a) => `cannot read --set ${q(a.text)}: expected name=value`,
    '`--set` takes `name=value`, where value is written as in a .align file (0.1, 3%, 30s, "text", a symbol).',
  ),
  unknownParamType: def<{ name: string }>(
    "ALN4004",
    "error",
    (a) => `unknown param type ${q(a.name)}`,
    "Param types are int, float, string, bool, duration, percent, or a union of symbols such as `sigmoid | ipo | hinge`.",
  ),
  sweepTargetNotFound: def<{ target: string }>(
    "ALN4005",
    "error",
    (a) => `sweep target ${q(a.target)} does not exist`,
    "A sweep axis names a param (`beta`) or a nested setting of a declaration (`dpo.objective.beta`). The name does not resolve.",
  ),
  zipLengthMismatch: def<{ lengths: string }>(
    "ALN4006",
    "error",
    (a) => `zip axes must have the same length, got ${a.lengths}`,
    "A zip sweep pairs the i-th values of every axis, so every axis must list the same number of values.",
  ),
  noSweep: def<{ file: string }>(
    "ALN4007",
    "error",
    (a) => `${a.file} declares no sweep`,
    "`alignc expand` lists the trials of a sweep; the file has none. A file without a sweep is a single run: use `alignc plan`.",
  ),
  ambiguousSweep: def<{ names: string }>(
    "ALN4008",
    "error",
    (a) => `the file declares several sweeps (${a.names}); choose one with --sweep`,
    "When a file declares more than one sweep, commands that expand a sweep need `--sweep NAME`.",
  ),
  sweepTooLarge: def<{ size: string; limit: string }>(
    "ALN4009",
    "error",
    (a) => `the sweep has ${a.size} trials, more than the limit of ${a.limit}`,
    "Sweeps larger than this are almost certainly a mistake (an axis listed twice, a range too fine).",
  ),
  excludeEverything: def(
    "ALN4010",
    "warning",
    () => "the exclusions remove every trial of the sweep",
    "Every combination of the sweep matches an `exclude` entry, so the sweep has no trials.",
  ),
  unknownSweepName: def<{ name: string }>("ALN4011", "error", (a) => `no sweep named ${q(a.name)}`, "`--sweep` must name a sweep declared in the file."),
  trialOutOfRange: def<{ trial: string; count: number }>(
    "ALN4012",
    "error",
    (a) => `trial ${a.trial} does not exist: the sweep has ${a.count} trials`,
    "Trials are numbered from 0, or named by their stable id as printed by `alignc expand`.",
  ),
  paramDomainNotAllowed: def<{ type: string; domain: string }>(
    "ALN4013",
    "error",
    (a) => `a ${a.type} param cannot have the domain ${a.domain}`,
    "int, float, percent and duration params take an interval (`in (0, 1]`, `in 0..12`) or a set of values (`in {8, 16}`) with bounds of their own unit; string params take a set of strings; bool params and unions of symbols take no domain (a union is its own domain).",
  ),
  badSeverity: def<{ setting: string; reason: string }>(
    "ALN4014",
    "error",
    (a) => `cannot apply ${q(a.setting)}: ${a.reason}`,
    "The severity of a warning or an info can be changed per code, with `--warn CODE=LEVEL` on a compiling command (for every file) or with a pragma `// alignc: CODE=LEVEL` among the comments at the top of a file, before its first import or declaration (for that file only; it wins over `--warn`). LEVEL is `off` (not shown), `info`, `warning` or `error` (the compile fails). Several settings may be separated by commas or spaces; for one code, the last setting wins. Errors can be neither lowered nor turned off: a code whose severity is error accepts only `error`.",
  ),
  sweepPartlyChecked: def<{ sweep: string; checked: string; total: string }>(
    "ALN4015",
    "warning",
    (a) => `sweep ${q(a.sweep)} has ${a.total} trials: only the first ${a.checked} were checked`,
    "`check` (and every command that compiles a file without `--trial`) checks every trial of a sweep with the trial's values, as `alignc run --trial` would, up to 10,000 trials per sweep. A larger sweep is checked that far; the rest are checked when they run (`alignc run --trial N`).",
  ),

  // ── ALN5xxx hooks ────────────────────────────────────────────────────────
  hookModuleMissing: def<{ path: string }>(
    "ALN5001",
    "error",
    (a) => `rater module ${q(a.path)} does not exist`,
    "A `typescript(...)` rater names a TypeScript module, relative to the .align file.",
  ),
  hookExportMissing: def<{ name: string; path: string }>(
    "ALN5002",
    "error",
    (a) => `rater module ${q(a.path)} has no export ${q(a.name)}`,
    "The `export` setting names the function that alignc calls. It must be exported from the module.",
  ),
  hookTypeMismatch: def<{ name: string }>(
    "ALN5003",
    "error",
    (a) => `export ${q(a.name)} does not match alignc's Rater type`,
    "A TypeScript rater must be assignable to `Rater` from `src/api/rater.ts`: `(request: RaterRequest) => RaterReply | Promise<RaterReply>`. The notes show TypeScript's own explanation.",
  ),
  hookSyntaxError: def<{ path: string }>(
    "ALN5004",
    "error",
    (a) => `rater module ${q(a.path)} has TypeScript syntax errors`,
    "The rater module does not parse as TypeScript.",
  ),

  // ── ALN6xxx run-time input ───────────────────────────────────────────────
  // Not compiler diagnostics: the runtime reports these in a node's failure, as `file:row: error[CODE]: message`.
  inputMissing: def<{ what: string; path: string; lookedFor: string }>(
    "ALN6001",
    "error",
    (a) => `${a.what} ${a.path} does not exist${a.lookedFor ? ` (looked for ${a.lookedFor})` : ""}`,
    "A file the experiment names (a data file, an image a row names, a checkpoint file) is not there. Paths in a .align file are relative to the .align file; image paths in a data file are relative to its images root.",
    (a) =>
      a.what === "image"
        ? "check the path (image paths are relative to the images root)"
        : "check the path (paths in a .align file are relative to the .align file)",
  ),
  inputNotRegular: def<{ what: string; path: string; kind: string }>(
    "ALN6002",
    "error",
    (a) => `${a.what} ${a.path} is ${a.kind}, not a regular file`,
    "alignc reads data files, images, checkpoints and rater program files only when they are regular files. Directories, devices (such as /dev/zero), FIFOs and sockets are refused before they are opened, so a read can never block, run without end or exhaust memory; a store key records such a path as refused without reading it.",
    () => "name a regular file",
  ),
  inputOutsideRoot: def<{ what: string; written: string; root: string; real: string }>(
    "ALN6003",
    "error",
    (a) =>
      a.real
        ? `${a.what} ${JSON.stringify(a.written)} leads through a symbolic link to ${a.real}, outside the images root ${a.root}`
        : `${a.what} path ${JSON.stringify(a.written)} leads outside the images root ${a.root}`,
    "Image paths in a data file must stay inside its images root: the `images` setting, by default the data file's directory. A path with `..` that leaves it, an absolute path elsewhere, or a symbolic link whose target (resolved with realpath) lies elsewhere is refused before anything is opened, so a data file cannot make alignc read other files on the machine.",
    () => "set `images` to a directory that holds every image",
  ),
  inputTooLarge: def<{ what: string; path: string; size: string; limit: string }>(
    "ALN6004",
    "error",
    (a) => `${a.what} ${a.path} is ${a.size}; alignc reads ${a.what}s up to ${a.limit}`,
    "Each kind of input has a documented size cap (docs/formats.md, docs/security.md) so that one file cannot exhaust memory. Data files in JSON lines are read a row at a time and may be much larger than a .json array, which is parsed whole.",
    () => "split the file, or write a .json array as JSON lines (.jsonl)",
  ),
  imageUnreadable: def<{ image: string; reason: string }>(
    "ALN6005",
    "error",
    (a) => `image ${a.image} is not a readable PNG, JPEG or WebP image: ${a.reason}`,
    "alignc reads PNG, JPEG and WebP images. The file's signature, header and size are checked before it is decoded (a PNG is decoded whole on import, a JPEG or WebP when a model reads it); a file of another format, truncated or corrupt is refused with the reason.",
    () => "convert the image to PNG, JPEG or WebP, or fix the path",
  ),
  imageTooLarge: def<{ image: string; width: number; height: number; limit: string }>(
    "ALN6006",
    "error",
    (a) => `image ${a.image} is ${a.width}×${a.height} pixels; alignc decodes images up to ${a.limit}`,
    "A PNG's header states its size; a small file can claim a huge image (a decompression bomb). alignc reads the header first and refuses images over the cap in milliseconds, without decoding them.",
    () => "resize the image",
  ),
  rowNotUtf8: def<{ where: string; offset: number }>(
    "ALN6007",
    "error",
    (a) => `${a.where} is not valid UTF-8 (its first bad byte is byte ${a.offset} of it, counting from 0)`,
    "Data files are UTF-8 text. A row with bytes that are not UTF-8 (Latin-1 text, binary data) is refused instead of being read with replacement characters, which would silently change prompts and answers. A UTF-8 byte order mark at the start of the file is accepted.",
    () => "save the file as UTF-8",
  ),
  fileUtf16: def<{ order: string }>(
    "ALN6008",
    "error",
    (a) => `the file is UTF-16 (${a.order}); alignc reads data files in UTF-8`,
    "The file starts with a UTF-16 byte order mark (or holds UTF-16 text). Data files must be UTF-8.",
    () => "convert it, e.g. iconv -f UTF-16 -t UTF-8 FILE > FILE.utf8.jsonl",
  ),
  emptyField: def<{ field: string }>(
    "ALN6009",
    "error",
    (a) => `the ${a.field} is empty`,
    "A prompt, a chosen answer and a rejected answer must each hold text: an empty one (or one of only spaces) teaches nothing, and usually means a column was misnamed or lost in conversion.",
    () => "fill it in or drop the row",
  ),
  badRow: def<{ problem: string }>(
    "ALN6010",
    "error",
    (a) => a.problem,
    "The row does not fit the format or the dataset kind: invalid JSON, a blank line, a schema error, a duplicate id, a multi-turn conversation, too many images, scores outside the rating. The message says what and where in the row (docs/formats.md).",
  ),
  inputUnreadable: def<{ what: string; path: string; reason: string }>(
    "ALN6011",
    "error",
    (a) => `${a.what} ${a.path} cannot be read: ${a.reason}`,
    "The operating system refused to read the file (permissions, a broken link, an I/O error), or the file was replaced while alignc read it.",
  ),
  parquetUnreadable: def<{ file: string; problem: string }>(
    "ALN6012",
    "error",
    (a) => `${a.file} cannot be read as Parquet: ${a.problem}`,
    "A data file ending in .parquet is read as Parquet, as Hugging Face `datasets` and pyarrow write it: the file must start and end with Parquet's magic bytes and hold a footer that parses; its columns must be uncompressed or compressed with a codec alignc reads (snappy, the default of pyarrow and `datasets`, gzip, brotli, and zstd where Node's zlib has it); a row group is read into memory whole, up to a cap. A file cut short, of another kind, or compressed otherwise is refused before any row is read; rewriting it with pyarrow's defaults (`pyarrow.parquet.write_table(pyarrow.parquet.read_table(IN), OUT)`) fixes the codec and the row groups (docs/formats.md#parquet).",
  ),

  // ── ALN7xxx run-time failures ──────────────────────────────────────────────
  nodeFailed: failure(
    "ALN7001",
    ["NodeError"],
    "A node of the execution graph could not run with the inputs and settings it was given: for example a batch larger than the examples of its data, an input dataset of the wrong kind for a graph made by another alignc, or an evaluation whose data holds no item a metric needs. The message names the node (with its declaration's file:line:column) and what to change. Outputs of nodes finished before it stay stored: fix the cause and run the same command again.",
  ),
  runRefused: failure(
    "ALN7002",
    ["RunError"],
    "The run as a whole was refused before anything ran: the execution graph holds a node kind or a setting this alignc cannot run, `--force` names no node, or another alignc is writing the same run directory. A node's own failure is reported with that failure's code instead.",
  ),
  checkpointInterrupted: failure(
    "ALN7003",
    ["CheckpointExistsError"],
    "A training phase with `checkpoint_every` was interrupted and left a checkpoint in its scratch directory. alignc neither resumes nor deletes it on its own: run again with `--resume` to continue from the newest checkpoint (the result is bit-identical to an uninterrupted run on CPU), or with `--force <phase>` to delete it and start over.",
  ),
  checkpointInvalid: failure(
    "ALN7004",
    ["CheckpointError", "ParamError"],
    "A checkpoint directory (`checkpoint(...)`, a stored phase, a kept mid-phase checkpoint) could not be loaded: a file is missing or torn, its config.json does not describe a TinyVLM, or a weight's name, dtype or shape does not match the model its config describes. The message names the file and the weight.",
  ),
  safetensorsInvalid: failure(
    "ALN7005",
    ["SafetensorsError", "JsonSyntaxError"],
    "A .safetensors file is malformed: its header is not the JSON the format defines (read strictly: duplicate keys, lone surrogates and trailing data are refused), a tensor's offsets fall outside the data or overlap, or its dtype is unknown. Files written by alignc, PyTorch's safetensors and Hugging Face are read alike.",
  ),
  loraInvalid: failure(
    "ALN7006",
    ["LoraError"],
    "A phase's `lora` settings, as the execution graph carries them, are not ones alignc can build adapters from: not an object, an unknown setting, a rank that is not a positive integer, an alpha that is not positive, no target or a target the model does not have, a target named twice. The checker refuses these in a .align file; a graph made elsewhere (`alignc plan --format json` edited, another alignc) can still hold them.",
  ),
  examplesDoNotFit: failure(
    "ALN7007",
    ["FeedError"],
    "Examples could not be turned into the model's inputs: a prompt and answer longer than the model's context, an image of another size than the vision encoder's, or a batch with nothing to learn from. The message names the example and the limit; shorten the data or use a model with a longer context.",
  ),
  tokenizerInvalid: failure(
    "ALN7008",
    ["TokenizerError"],
    "A tokenizer.json could not be loaded (unreadable, not JSON, not a tokenizer) or was asked to decode ids outside its vocabulary, which happens when a checkpoint's tokenizer does not belong to its weights.",
  ),
  deviceUnavailable: failure(
    "ALN7009",
    ["ProviderUnavailableError"],
    "The device a node or `--device` asks for cannot be used: no NVIDIA GPU or driver is visible, the CUDA libraries ONNX Runtime needs are not installed (`npm run setup:cuda`, docs/gpu.md), or a `cuda:N` names a GPU that does not exist. The message says which and what to install or choose instead.",
  ),
  cudaSetupFailed: failure(
    "ALN7010",
    ["CudaSetupError"],
    "`npm run setup:cuda` could not install the CUDA provider of ONNX Runtime: the download failed, the archive did not verify, or the libraries do not load on this machine (docs/gpu.md).",
  ),
  onlineSettings: failure(
    "ALN7011",
    ["OnlineError"],
    "An online or mixed DPO phase cannot run as set: a setting out of its range in a graph made elsewhere (rounds, epochs, p, margin), or a batch larger than the pairs one round can make (at most one pair per prompt: raise `prompts_per_round` or lower `batch`). The message says which setting to change.",
  ),
  samplingFailed: failure(
    "ALN7012",
    ["SampleError"],
    "`sample` could not generate answers for its prompts as set (a prompt that leaves no room in the context for `max_tokens`).",
  ),
  scoreUnavailable: failure(
    "ALN7013",
    ["ScoreError"],
    "A score or filter expression could not be computed for a record: the rater gave no score for an aspect the expression uses, or a division by zero. The message names the aspect and the record.",
  ),
  similarityFailed: failure(
    "ALN7014",
    ["SimilarityError"],
    "A similarity (BDHS's acceptance test) could not compare texts as set: an unknown measure or pooling in a graph made elsewhere, or a different number of candidates and references.",
  ),
  groundTruthMissing: failure(
    "ALN7015",
    ["GroundTruthError"],
    "The grounded rater scores answers against the scene an item was made from. Items without one (imported data, text-only prompts) cannot be rated by it: use a command, judge or TypeScript rater for such data.",
  ),
  editorFailed: failure(
    "ALN7016",
    ["CorruptCommandError"],
    "The program `corrupt` runs to edit answers (its `command` setting) failed: it could not start, exited, or replied with something other than one JSON object per line. The message quotes the end of its stderr.",
  ),
  worldOptionsInvalid: failure(
    "ALN7017",
    ["WorldOptionsError", "WorldDirError"],
    "`alignc world` was given an option it does not know or a value out of range, or an output directory it cannot write a dataset into (a file, or a directory that holds something else).",
  ),
  imageInvalid: failure(
    "ALN7018",
    ["PngError"],
    "An image could not be decoded: it is not a PNG, it is truncated or its checksums do not match, or it uses a PNG feature the decoder does not read. Re-save it as an 8-bit RGB or RGBA PNG.",
  ),
  keptFileUnreadable: failure(
    "ALN7019",
    ["UnreadableFileError"],
    "A file alignc wrote and reads back (plan.json, align.lock, node.json, sweep.json, an evaluation) could not be read: it is missing, was edited into invalid JSON, or is not a regular file. The message names the file and how to have alignc write it again.",
  ),
  writeRefused: failure(
    "ALN7020",
    ["UnsafePathError"],
    "alignc writes only inside the directories it owns (the run directory, the store, an export's folder). A path that would leave them, a folder on the way that is a symbolic link out of them, or a file it would write through a link planted there, is refused before anything is written (docs/security.md).",
  ),
  notARunDirectory: failure(
    "ALN7021",
    ["ReportError", "CompareError"],
    "`alignc report` and `alignc compare` read run directories (plan.json, align.lock, the store) and sweep directories (sweep.json). The directory given is neither, or is missing what they need.",
  ),
  slurmFailed: failure(
    "ALN7022",
    ["SlurmError"],
    "A Slurm command (sbatch, squeue, scancel) failed or replied with something alignc could not read. The message quotes its output and the job script's path.",
  ),
  raterUnavailable: failure(
    "ALN7023",
    ["RaterUnavailable"],
    "A rater cannot run at all, so the stage that uses it stops: a command rater's program does not start or exits before answering, a TypeScript rater's module does not load, or a judge is asked for something it cannot do (sampling at a temperature). Items that fail one by one are retried and reported per item instead (docs/raters.md).",
  ),
  chatTemplateFailed: failure(
    "ALN7024",
    ["ChatTemplateError"],
    "A Hugging Face checkpoint's chat template (`chat_template.jinja`, or `chat_template` in tokenizer_config.json) could not be read or rendered: it does not parse as Jinja, it called `raise_exception` for the conversation (many templates refuse a conversation that does not alternate user and assistant turns, or a system message they do not support), or it uses a Jinja feature the renderer lacks. The message quotes the template's own words where it gave them.",
  ),
  hfCheckpointFailed: failure(
    "ALN7025",
    ["HfCheckpointError"],
    "A Hugging Face checkpoint could not be used at run time: its config.json was refused (as `alignc check` would refuse it), its weights' headers do not match the config (a missing tensor, a wrong shape, mixed dtypes), its generation_config.json is malformed, or its tokenizer does not fit the model's vocabulary. The message names the file and what to fix; `alignc check` catches most of these before a run (docs/hf-models.md).",
  ),
  imageDecodeFailed: failure(
    "ALN7026",
    ["ImageError"],
    "An image file could not be read as pixels: it is not a PNG, JPEG or WebP file, its header or data is broken or truncated, or it is larger than 89,478,485 pixels (Pillow's MAX_IMAGE_PIXELS), which alignc refuses as a possible decompression bomb before decoding anything. The message names the file; convert or resize it, or leave the row out (docs/formats.md).",
  ),

  // ── ALN9xxx limits ───────────────────────────────────────────────────────
  tooManyDiagnostics: def<{ count: number; file: string }>(
    "ALN9001",
    "error",
    (a) => `${a.count} more diagnostics in ${a.file || "the input"} were not shown`,
    "alignc stops listing diagnostics for a file after a fixed number, so that garbage input cannot flood the terminal. Fix the first ones and run again.",
  ),
} as const;

declare const fromTable: unique symbol;
/**
 * A help line, label or note written by this table. Only the tables below make one (`DiagnosticExtras` accepts
 * nothing else), so no text a user reads is composed outside this file.
 */
export type TableText = string & { readonly [fromTable]: true };
const text = (s: string): TableText => s as TableText;

/** Texts of labels (secondary spans), kept here with the messages they accompany. */
export const labelTexts = {
  openedHere: (open: string) => text(`${q(open)} opened here`),
  declaredAs: (kind: string) => text(`declared as ${withArticle(kind)} here`),
  tsDeclaration: (name: string) => text(`the TypeScript declaration of ${q(name)}`),
  /** A repeated element of a list, or a setting given twice: where the first one is. */
  firstHere: () => text("first here"),
  firstGivenHere: () => text("first given here"),
  /** A name declared twice: where the first declaration is (params), or the other one (declarations). */
  firstDeclaredHere: () => text("first declared here"),
  alsoDeclaredHere: () => text("also declared here"),
  /** An error that only a sweep's trial makes: which trial (ordinal, id, values), and how many others make it too. */
  inTrial: (sweep: string, ordinal: number, id: string, values: string, others: number) =>
    text(`in trial ${ordinal} of sweep ${q(sweep)} (${id}: ${values})${others > 0 ? `, and ${others} more trial${others === 1 ? "" : "s"}` : ""}`),
} as const;

/**
 * Help lines computed where a diagnostic is reported, beyond the fixed help of its message: suggestions ("did you
 * mean …", which come with a `fix`), lists of what exists, and how to write what was meant.
 */
export const helpTexts = {
  // ── suggestions (each with a fix that replaces what was written) ──
  /** A name, key, symbol or aspect close to one that exists. */
  didYouMean: (name: string) => text(`did you mean ${q(name)}?`),
  /** An unknown `${name}` close to a declared param. */
  didYouMeanParam: (name: string) => text(`did you mean \${${name}}?`),
  /** A value written without its unit, or in the wrong form: `80` for `80%`, `30` for `30s`. */
  didYouMeanValue: (written: string) => text(`did you mean ${written}?`),
  writeQuoted: (name: string) => text(`write it in quotes: "${name}"`),
  writeUnquoted: (value: string) => text(`write it without quotes: ${value}`),
  /** A percentage where a plain number is expected. */
  writeNumber: (value: string) => text(`write ${value}`),
  /** A whole split where one of its parts is expected. */
  writePart: (split: string, part: string) => text(`write ${split}.${part}`),
  // ── what exists ──
  oneOf: (names: string) => text(`one of ${names}`),
  settingsOf: (construct: string, settings: string) => text(`settings of ${construct}: ${settings || "none"}`),
  settingsHere: (settings: string) => text(`settings here: ${settings}`),
  constructorsOf: (family: string, names: string) => text(`${family} constructors: ${names}`),
  paramsDeclared: (names: string) => text(names ? `params: ${names}` : "the file declares no params"),
  // ── how to write it ──
  addSetting: (key: string, doc: string) => text(`add \`${key}: …\` (${doc})`),
  nestedSetting: (key: string, block: string) => text(`${key} is a setting of ${block}: write \`${block}: { ${key}: … }\``),
  nestedCtorSetting: (key: string, family: string, setting: string, ctor: string) =>
    text(`${key} is a setting of the ${family}: write \`${setting}: ${ctor} { ${key}: … }\``),
  declareFirst: () => text("declare it first (e.g. `dataset d = …`) and refer to it by name"),
  constructorNotName: (name: string, family: string) => text(`${name} is a ${family} constructor: declare it (\`${family} x = ${name} {…}\`) and use the name`),
  otherFamily: (name: string, family: string, declared: string) => text(`${name} makes a ${family}: write \`${family} ${declared} = ${name} …\``),
  declarationBuildsNew: () => text("a declaration builds a new value; to use an existing one, refer to it by name where it is needed"),
  example: (example: string) => text(`e.g. ${example}`),
  settingsInBlock: (ctor: string) => text(`write settings in a block: ${ctor} { … }`),
  removeRepeated: () => text("remove the repeated element"),
  sameRater: () => text("combine datasets rated by the same rater, or rate the combined samples once"),
  /** `argv` written as one string: the list it probably means, as .align text. */
  splitArgv: (items: string) => text(`split it: [${items}]`),
  // ── params ──
  unionOfSymbols: () => text("for a choice of symbols write them as a union: `sigmoid | ipo`"),
  unionNoDomain: () => text("a union of symbols is its own domain: remove `in …`"),
  boolNoDomain: () => text("a bool param is true or false: remove `in …`"),
  stringSetDomain: () => text('write the allowed strings as a set: in {"a", "b"}'),
  // ── sweeps ──
  sweepForms: () => text("a sweep is grid { … }, zip { … } or random { … }"),
  sweepSettings: (settings: string) => text(`settings: ${settings}; axes go inside \`over: { … }\``),
  sweepRandomOnly: () => text("list the values, or make the sweep `random { count: N, … }`"),
  sweepExclusionAxes: () => text("an exclusion names axes of this sweep"),
  sweepValuesAsList: () => text("write the values as a list: [0.05, 0.1, 0.2]"),
  sweepAxisForms: () => text("an axis is a param (`beta`) or a nested setting (`dpo.objective.beta`)"),
  noNestedSettings: (path: string) => text(`${path} has no nested settings`),
  sweepListInstead: () => text("list the values to sweep instead of a distribution"),
  writeIntUniform: (lo: string, hi: string) => text(`write int_uniform(${lo}, ${hi})`),
  // ── severity settings ──
  severitySetting: () => text("write CODE=LEVEL with LEVEL off, info, warning or error, e.g. ALN3017=off"),
  movePragma: () => text("move it above the first import or declaration"),
} as const;

/** Texts of notes (extra lines under a diagnostic). */
export const noteTexts = {
  /** The value exports a TypeScript rater module does have. */
  exports: (names: string) => text(`exports: ${names}`),
  /** A line of TypeScript's own explanation (its message chain or a syntax error), shown as TypeScript wrote it. */
  typescript: (line: string) => text(line),
} as const;

/** Why a severity setting (`--warn CODE=LEVEL`, `// alignc: CODE=LEVEL`) cannot be applied: ALN4014's `reason`. */
export const severityReasons = {
  malformed: () => "expected CODE=LEVEL, where LEVEL is off, info, warning or error",
  unknownCode: (code: string) => `no diagnostic has the code ${q(code)} (\`alignc explain --list\` lists them)`,
  cannotLower: (code: string) => `${code} is an error; errors can be neither lowered nor turned off`,
  notAtTop: () => "a pragma applies only among the comments at the top of the file, before the first import or declaration",
} as const;

/** What `alignc explain` says about changing a code's severity. */
export function severityControlText(code: string, severity: Severity): string {
  return severity === "error"
    ? `${code} is an error: it cannot be lowered or turned off.`
    : `${code} is ${withArticle(severity)}: change it with \`--warn ${code}=off|info|warning|error\` on a compiling command, or for one file with a comment \`// alignc: ${code}=off\` at its top (ALN4014 explains the rules).`;
}

export type MessageId = keyof typeof messages;
export type MessageArgs<Id extends MessageId> = Parameters<(typeof messages)[Id]["message"]>[0];

/** Looks a code up for `alignc explain`. Accepts "ALN2003", "aln2003" or "2003". */
export function findByCode(code: string): { id: MessageId; code: string; severity: Severity; explain: string } | undefined {
  const wanted = code.toUpperCase().replace(/^(?!ALN)/, "ALN");
  for (const [id, m] of Object.entries(messages)) {
    if (m.code === wanted) return { id: id as MessageId, code: m.code, severity: m.severity, explain: m.explain };
  }
  return undefined;
}
