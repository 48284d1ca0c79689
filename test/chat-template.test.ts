// Chat templates of Hugging Face checkpoints (src/runtime/models/tokenizer/chat-template.ts): where they are found,
// what they are given, and their failures (ALN7024). Rendering real templates against transformers is checked with the
// golden files of test/fixtures/hf/ when they are present.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { ChatTemplate } from "../src/runtime/models/tokenizer/chat-template.ts";
import { repoRoot } from "./support/align-files.ts";

const dir = mkdtempSync(path.join(tmpdir(), "alignc-chat-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const CHATML =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

function checkpoint(name: string, files: Record<string, string>): string {
  const d = path.join(dir, name);
  mkdirSync(d, { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(path.join(d, f), text);
  return d;
}

test("tokenizer_config.json's chat_template renders with the messages and add_generation_prompt", () => {
  const d = checkpoint("chatml", { "tokenizer_config.json": JSON.stringify({ chat_template: CHATML, eos_token: "<|im_end|>" }) });
  const t = ChatTemplate.load(d);
  assert.ok(t);
  const messages = [
    { role: "system", content: "Be brief." },
    { role: "user", content: "Is there a red cube?" },
  ];
  assert.equal(t.render(messages), "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nIs there a red cube?<|im_end|>\n");
  assert.equal(t.render(messages, { addGenerationPrompt: true }).slice(-23), "<|im_end|>\n<|im_start|>assistant\n".slice(-23));
});

test("special tokens are variables (strings or added-token objects); chat_template.jinja wins; a list's default entry is used", () => {
  const template = "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}{{ eos_token }}{% endfor %}";
  const d = checkpoint("specials", {
    "tokenizer_config.json": JSON.stringify({
      chat_template: [
        { name: "tool_use", template: "tools" },
        { name: "default", template },
      ],
      bos_token: { content: "<s>", special: true },
      eos_token: "</s>",
    }),
  });
  assert.equal(ChatTemplate.load(d)?.render([{ role: "user", content: "hi" }]), "<s>[user] hi</s>");
  writeFileSync(path.join(d, "chat_template.jinja"), "{{ messages[0].content | upper }}");
  assert.equal(ChatTemplate.load(d)?.render([{ role: "user", content: "hi" }]), "HI");
  assert.equal(ChatTemplate.load(checkpoint("none", { "tokenizer_config.json": "{}" })), undefined);
});

test("a template that refuses the conversation, or does not parse, is a coded failure naming the file (ALN7024)", () => {
  const refusing = "{% if messages[0].role != 'user' %}{{ raise_exception('Conversations must start with a user turn') }}{% endif %}ok";
  const d = checkpoint("refusing", { "tokenizer_config.json": JSON.stringify({ chat_template: refusing }) });
  assert.throws(
    () => ChatTemplate.load(d)?.render([{ role: "assistant", content: "hello" }]),
    (e: Error & { code?: string }) => {
      assert.equal(e.code, "ALN7024");
      assert.match(
        e.message,
        /refusing\/tokenizer_config\.json: the chat template refused the conversation or failed: Conversations must start with a user turn/,
      );
      return true;
    },
  );
  const broken = checkpoint("broken", { "chat_template.jinja": "{% for m in messages %}{{ m.content }" });
  assert.throws(
    () => ChatTemplate.load(broken),
    (e: Error & { code?: string }) => e.code === "ALN7024" && /does not parse/.test(e.message),
  );
  const badJson = checkpoint("bad-json", { "tokenizer_config.json": "{ not json" });
  assert.throws(
    () => ChatTemplate.load(badJson),
    (e: Error & { code?: string }) => e.code === "ALN7024" && /not valid JSON/.test(e.message),
  );
});

// transformers' renderings of the fixtures' real templates (scripts/make-hf-fixtures.py).
const goldenDir = path.join(repoRoot, "test/fixtures/hf/golden");
const goldens = existsSync(goldenDir) ? readdirSync(goldenDir).filter((f) => f.endsWith(".json")) : [];
test("the fixtures' chat templates render as transformers renders them", (t) => {
  if (goldens.length === 0) return t.skip(`SKIPPED: no golden files in ${path.relative(repoRoot, goldenDir)} (made by scripts/make-hf-fixtures.py)`);
  let compared = 0;
  for (const file of goldens) {
    const golden = JSON.parse(readFileSync(path.join(goldenDir, file), "utf8")) as {
      applies_to: string[];
      chat: { cases: { messages: { role: string; content: string }[]; add_generation_prompt: boolean; text: string }[] };
    };
    for (const dir of golden.applies_to) {
      const template = ChatTemplate.load(path.join(repoRoot, dir));
      assert.ok(template, `${dir} has a chat template`);
      for (const c of golden.chat.cases) {
        assert.equal(template.render(c.messages, { addGenerationPrompt: c.add_generation_prompt }), c.text, `${dir}: ${JSON.stringify(c.messages)}`);
        compared++;
      }
    }
  }
  assert.ok(compared > 0, "the golden files hold no chat renderings");
});
