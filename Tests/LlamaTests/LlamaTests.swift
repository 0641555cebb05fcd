// LlamaTests: tests of the Llama module against reference fixtures (Tests/Fixtures).
