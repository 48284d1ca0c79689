// A Hugging Face checkpoint's chat template, rendered as transformers renders it (`apply_chat_template(tokenize=False)`):
// the Jinja text from `chat_template.jinja` (which transformers 5 prefers), `chat_template.json` (where transformers 4
// processors of vision-language checkpoints keep it) or `tokenizer_config.json`'s `chat_template` (a string, or a list
// of named templates of which "default" is used), run by @huggingface/jinja with the messages,
// `add_generation_prompt` and the tokenizer's special tokens (bos_token, eos_token, unk_token, pad_token) as variables.
//
// One difference, on purpose: transformers defines `strftime_now` (today's date), which templates such as Llama 3.2's
// put into the system prompt. alignc does not, so those templates fall back to the date they write for that case and
// the same prompt renders to the same text on every day: stored outputs stay reusable (docs/hf-models.md).
import path from "node:path";
import { Template } from "@huggingface/jinja";
import { readCheckpointJson, readCheckpointText } from "./checkpoint-json.ts";

/** A chat template that cannot be read or rendered; the message names the file. */
export class ChatTemplateError extends Error {
  /** Its code in the message table (src/diagnostics/messages.ts, ALN7xxx). */
  readonly code: string = "ALN7024";
  override name = "ChatTemplateError";
}

/** One turn of a conversation, as in TRL's conversational format: text, or (vision-language models) a list of parts. */
export interface ChatMessage {
  role: string;
  content: string | readonly ChatContentPart[];
}

/** A part of a message as processors' chat templates read them: an image's place, or text. */
export type ChatContentPart = { type: "image" } | { type: "text"; text: string };

export interface RenderOptions {
  /** Append the header that opens the assistant's turn (for prompts a model is to answer). */
  addGenerationPrompt?: boolean;
}

const failure = (message: string) => new ChatTemplateError(message);

const SPECIAL_NAMES = ["bos_token", "eos_token", "unk_token", "pad_token"] as const;

export class ChatTemplate {
  private readonly template: Template;

  private constructor(
    /** The file the template came from. */
    readonly source: string,
    readonly text: string,
    /** The special tokens' texts the template may use (bos_token, …), from tokenizer_config.json. */
    readonly specialTokens: Readonly<Record<string, string>>,
  ) {
    try {
      this.template = new Template(text);
    } catch (e) {
      throw new ChatTemplateError(`${source}: the chat template does not parse: ${(e as Error).message}`);
    }
  }

  /** The template of a checkpoint directory, or undefined when it has none. */
  static load(dir: string): ChatTemplate | undefined {
    const configFile = path.join(dir, "tokenizer_config.json");
    const config = readCheckpointJson(configFile, "chat template file", failure);
    const specialTokens = specialTokensOf(config ?? {});
    const jinjaFile = path.join(dir, "chat_template.jinja");
    const jinja = readCheckpointText(jinjaFile, "chat template file", failure);
    if (jinja !== undefined) return new ChatTemplate(jinjaFile, jinja, specialTokens);
    const processorFile = path.join(dir, "chat_template.json");
    const processor = templateOf(readCheckpointJson(processorFile, "chat template file", failure)?.chat_template, processorFile);
    if (processor !== undefined) return new ChatTemplate(processorFile, processor, specialTokens);
    const text = templateOf(config?.chat_template, configFile);
    return text === undefined ? undefined : new ChatTemplate(configFile, text, specialTokens);
  }

  /** A template given as text (tests, and templates written in a .align file later). */
  static fromText(text: string, specialTokens: Readonly<Record<string, string>> = {}, source = "chat template"): ChatTemplate {
    return new ChatTemplate(source, text, specialTokens);
  }

  render(messages: readonly ChatMessage[], options: RenderOptions = {}): string {
    try {
      return this.template.render({
        messages: messages.map((m) => ({ role: m.role, content: typeof m.content === "string" ? m.content : m.content.map((part) => ({ ...part })) })),
        add_generation_prompt: options.addGenerationPrompt === true,
        ...this.specialTokens,
      });
    } catch (e) {
      // The renderer's own errors (an undefined method, a bad operand) carry its wording; a template's
      // `raise_exception(message)` carries the template's.
      throw new ChatTemplateError(`${this.source}: the chat template refused the conversation or failed: ${(e as Error).message}`);
    }
  }
}

/** `chat_template`: a string, or `[{ name, template }]` whose "default" entry is the chat template. */
function templateOf(value: unknown, file: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    const named = value.find((t) => typeof t === "object" && t !== null && (t as { name?: unknown }).name === "default") as { template?: unknown } | undefined;
    if (typeof named?.template === "string") return named.template;
  }
  throw new ChatTemplateError(`${file}: chat_template must be a string or a list with a "default" template`);
}

/** bos_token and friends: a string, or an added-token object `{ content }`. */
function specialTokensOf(config: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of SPECIAL_NAMES) {
    const v = config[name];
    const text = typeof v === "string" ? v : typeof v === "object" && v !== null ? (v as { content?: unknown }).content : undefined;
    if (typeof text === "string") out[name] = text;
  }
  return out;
}
