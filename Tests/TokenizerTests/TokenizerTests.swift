// TokenizerTests: tests of the Tokenizer module against reference fixtures (Tests/Fixtures).
