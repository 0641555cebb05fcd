// QuantTests: tests of the Quant module against reference fixtures (Tests/Fixtures).
