// Llama: the Llama-3 decoder for llx. Map of the module:
//   LlamaConfig.swift          config.json (every form in use), presets tiny / small / llama3-8b
//   RoPE.swift                 inverse frequencies + attention scaling per rope type (transformers 5.24)
//   LlamaModel.swift           parameters (HF names/order), init, live rope_theta / rope_scaling
//   LlamaLayer+Forward.swift   one decoder layer: forward and backward as a pair
//   LlamaModel+Train.swift     logits, loss, forwardBackward (chunked CE, gradient checkpointing)
//   LlamaModel+Head.swift      embedding / lm_head in f32 or frozen bf16
//   LlamaModel+Generate.swift  KV cache, generate, sampling warpers
//   LlamaModel+Load.swift      strict loading of HF directories (safetensors, sharded or not)
//   LlamaModel+Autograd.swift  loss as a differentiable Tensor op (when Tensor.customOp exists)
//   LlamaBench.swift           speed on the small preset, llama3-8b NF4 memory
