// EvalTests: tests of the Eval module against reference fixtures (Tests/Fixtures).
