// Llama: the Llama-3 decoder for llx. Map of the module:
//   LlamaConfig.swift              config.json (every form in use), RoPE types, presets tiny / small / llama3-8b
//   RoPE.swift                     inverse frequencies + attention scaling per rope type (transformers 5.24)
//   LlamaModel.swift               parameters (HF names/order), init, live rope_theta / rope_scaling
//   Buffers.swift                  activation buffers and the per-layer activation set
//   LlamaLayer+Forward.swift       one decoder layer's forward (with or without a KV cache)
//   LlamaLayer+Backward.swift      its backward, the forward's pair in reverse order
//   LlamaModel+Forward.swift       the trunk (embeddings, layers, final norm; sequences packed) and logits
//   LlamaModel+Loss.swift          label shifting, chunked cross-entropy over the lm_head, loss
//   LlamaModel+Train.swift         forwardBackward (packed micro-batches, gradient checkpointing)
//   LlamaModel+Head.swift          embedding / lm_head in f32 or frozen bf16
//   LlamaModel+Generate.swift      KV cache, generate, sampling warpers
//   LlamaModel+Load.swift          strict loading of HF directories (safetensors, sharded or not)
//   LlamaModel+Autograd.swift      loss as a differentiable Tensor op (when Tensor.customOp exists)
//   LlamaModel+Conformances.swift  the model as NN's TrainableModel and EvalModel
//   LlamaBench.swift               speed on the small preset, llama3-8b NF4 memory
