// Token ids of prompts and answers for a Hugging Face model, as TRL builds them. Prompts: plain text as it is (with BOS
// where the tokenizer adds one), a conversation (an item's `messages`) through the chat template with its generation
// prompt. Answers (what DPO and SFT score): for a plain prompt the answer's text, for a conversation the text the chat
// template puts after the prompt for an assistant turn with that answer (its end-of-turn tokens included); then the
// tokenizer's EOS — TRL's DPOTrainer.tokenize_row appends it in both cases.
import type { WorldItem } from "../../world/format.ts";
import type { ScoredSequence } from "./feeds.ts";
import { type HfModel, promptIds } from "./model.ts";
import type { HfPair } from "./train.ts";

/** The prompt ids of an item: its conversation when it has one, else its prompt text. */
export function itemPromptIds(model: HfModel, item: Pick<WorldItem, "prompt" | "messages">): number[] {
  return promptIds(model, item.messages ?? item.prompt);
}

/** The answer's ids after the item's prompt (see the file comment). */
export function answerIds(model: HfModel, item: Pick<WorldItem, "prompt" | "messages">, answer: string): number[] {
  const eos = model.tokenizer.eosId ?? model.stopIds[0];
  const tail = eos === undefined ? [] : [eos];
  if (!item.messages || !model.chatTemplate) return [...model.tokenizer.encode(answer), ...tail];
  const prompt = model.chatTemplate.render(item.messages, { addGenerationPrompt: true });
  const whole = model.chatTemplate.render([...item.messages, { role: "assistant", content: answer }]);
  // A template that renders the assistant turn differently from its generation prompt: the answer's text alone.
  const suffix = whole.startsWith(prompt) ? whole.slice(prompt.length) : answer;
  return [...model.tokenizer.encode(suffix), ...tail];
}

/** An item's prompt and an answer as the token rows log-probs and SFT score. */
export function scoredSequence(model: HfModel, item: Pick<WorldItem, "prompt" | "messages">, answer: string): ScoredSequence {
  return { promptIds: itemPromptIds(model, item), answerIds: answerIds(model, item, answer) };
}

/** A DPO pair as token ids: the item's prompt, the chosen and rejected answers, with its weight and reference log-probs. */
export function hfPairOf(
  model: HfModel,
  item: Pick<WorldItem, "prompt" | "messages">,
  answers: { chosen: string; rejected: string },
  scores: Pick<HfPair, "weight" | "refChosen" | "refRejected">,
): HfPair {
  const promptIds = itemPromptIds(model, item);
  return { promptIds, chosenIds: answerIds(model, item, answers.chosen), rejectedIds: answerIds(model, item, answers.rejected), ...scores };
}
