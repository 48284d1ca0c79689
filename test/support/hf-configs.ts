// config.json values of real checkpoints that several tests size from.

/** CLIP ViT-L/14-336's vision_config, as llava-hf's LLaVA-1.5 and LLaVA-NeXT checkpoints hold it. */
export const CLIP_L_336 = {
  model_type: "clip_vision_model",
  hidden_size: 1024,
  intermediate_size: 4096,
  num_hidden_layers: 24,
  num_attention_heads: 16,
  image_size: 336,
  patch_size: 14,
  projection_dim: 768,
};
