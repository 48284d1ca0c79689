// Token ids of prompts and answers for a Hugging Face model, as TRL builds them. Prompts: plain text as it is (with BOS
// where the tokenizer adds one), a conversation (an item's `messages`) through the chat template with its generation
// prompt. Answers (what DPO and SFT score): for a plain prompt the answer's text, for a conversation the text the chat
// template puts after the prompt for an assistant turn with that answer (its end-of-turn tokens included); then the
// tokenizer's EOS — TRL's DPOTrainer.tokenize_row appends it in both cases.
//
// A vision-language model's item with an image (TRL's vision format): the conversation's messages become lists of
// parts, the first user message's starting with the image (`{"type": "image"}`, which the processor's template writes
// as the image token); a plain prompt that already holds the image token (LLaVA's own "USER: <image>\n…" prompts) is
// used as it is, and one that does not is the user's turn of a one-message conversation — an image needs a place in
// the prompt, and the model's own template says where. The image token is then repeated once per feature row, as the
// processors do (LlavaProcessor: `text.replace(image_token, image_token * n)`; LLaVA-NeXT's n depends on the image's
// size), before encoding.
import type { WorldItem } from "../../world/format.ts";
import type { ChatContentPart, ChatMessage } from "../tokenizer/chat-template.ts";
import type { ScoredSequence } from "./feeds.ts";
import { imageTokensFor } from "./images.ts";
import { HfCheckpointError, type HfModel, type HfVision, promptIds } from "./model.ts";
import type { HfPair } from "./train.ts";

/** What a prompt is made of: an item's text or conversation, and (vision-language models) its image; `id` names it in errors. */
type PromptItem = Pick<WorldItem, "prompt" | "messages"> & Partial<Pick<WorldItem, "id" | "image">>;

/** The prompt ids of an item: its conversation when it has one, else its prompt text; with an image, its image tokens too. */
export function itemPromptIds(model: HfModel, item: PromptItem): number[] {
  if (!(model.vision && item.image)) return promptIds(model, item.messages ?? item.prompt);
  const vision = model.vision;
  const conversation = imageConversation(model, vision, item);
  const text = conversation ? renderTemplate(model, conversation, true) : item.prompt;
  const parts = text.split(vision.imageToken);
  if (parts.length !== 2)
    throw new HfCheckpointError(
      `item ${item.id ?? "(prompt)"}: its prompt holds the image token ${JSON.stringify(vision.imageToken)} ${parts.length - 1} times; an item shows one image, so the prompt needs it once`,
    );
  const ids = model.tokenizer.encode(parts.join(vision.imageToken.repeat(imageTokensFor(vision, item.image))));
  // A rendered template carries its own special tokens; a plain prompt gets BOS as plain prompts do.
  return conversation || model.bosId === undefined ? ids : [model.bosId, ...ids];
}

/** The answer's ids after the item's prompt (see the file comment). */
export function answerIds(model: HfModel, item: PromptItem, answer: string): number[] {
  const eos = model.tokenizer.eosId ?? model.stopIds[0];
  const tail = eos === undefined ? [] : [eos];
  const conversation = model.vision && item.image ? imageConversation(model, model.vision, item) : item.messages;
  if (!conversation || !model.chatTemplate) return [...model.tokenizer.encode(answer), ...tail];
  const prompt = renderTemplate(model, conversation, true);
  const answerTurn: ChatMessage = { role: "assistant", content: model.vision ? [{ type: "text", text: answer }] : answer };
  const whole = renderTemplate(model, [...conversation, answerTurn], false);
  // A template that renders the assistant turn differently from its generation prompt: the answer's text alone.
  const suffix = whole.startsWith(prompt) ? whole.slice(prompt.length) : answer;
  return [...model.tokenizer.encode(suffix), ...tail];
}

/**
 * The conversation a vision-language model renders for an item with an image (see the file comment), or undefined
 * for a plain prompt that already holds the image token.
 */
function imageConversation(model: HfModel, vision: HfVision, item: PromptItem): ChatMessage[] | undefined {
  if (!item.messages && item.prompt.includes(vision.imageToken)) return undefined;
  if (!model.chatTemplate)
    throw new HfCheckpointError(
      `item ${item.id ?? "(prompt)"}: ${model.dir} has no chat template to place its image in the prompt; write the image token ${JSON.stringify(vision.imageToken)} into the prompt where the image goes`,
    );
  const messages = item.messages ?? [{ role: "user" as const, content: item.prompt }];
  const firstUser = messages.findIndex((m) => m.role === "user");
  if (firstUser < 0) throw new HfCheckpointError(`item ${item.id ?? "(prompt)"}: its conversation has no user message to show the image in`);
  return messages.map((m, i): ChatMessage => {
    const parts: ChatContentPart[] = i === firstUser ? [{ type: "image" }] : [];
    // A message's text that names the image token itself keeps it there; the part would add a second one.
    if (i === firstUser && m.content.includes(vision.imageToken)) parts.length = 0;
    parts.push({ type: "text", text: m.content });
    return { role: m.role, content: parts };
  });
}

function renderTemplate(model: HfModel, messages: readonly ChatMessage[], addGenerationPrompt: boolean): string {
  return (model.chatTemplate as NonNullable<HfModel["chatTemplate"]>).render(messages, { addGenerationPrompt });
}

/** An item's prompt and an answer as the token rows log-probs and SFT score (with the item's image on a vision-language model). */
export function scoredSequence(model: HfModel, item: PromptItem, answer: string): ScoredSequence {
  return { promptIds: itemPromptIds(model, item), answerIds: answerIds(model, item, answer), ...imageOf(model, item) };
}

/** A DPO pair as token ids: the item's prompt, the chosen and rejected answers, with its weight and reference log-probs. */
export function hfPairOf(
  model: HfModel,
  item: PromptItem,
  answers: { chosen: string; rejected: string },
  scores: Pick<HfPair, "weight" | "refChosen" | "refRejected">,
): HfPair {
  const promptIds = itemPromptIds(model, item);
  return {
    promptIds,
    chosenIds: answerIds(model, item, answers.chosen),
    rejectedIds: answerIds(model, item, answers.rejected),
    ...scores,
    ...imageOf(model, item),
  };
}

/** `{ image }` when a vision-language model sees the item's image; nothing otherwise. */
export function imageOf(model: HfModel, item: Partial<Pick<WorldItem, "image">>): { image?: string } {
  return model.vision && item.image ? { image: item.image } : {};
}
