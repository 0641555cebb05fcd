// LangTests: tests of the Lang module against reference fixtures (Tests/Fixtures).
