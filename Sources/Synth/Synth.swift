// Synth: synthetic long-context training and evaluation text (filler prose, needle QA,
// multi-detail QA, biography summaries), seeded and measured in tokens of a given tokenizer.
