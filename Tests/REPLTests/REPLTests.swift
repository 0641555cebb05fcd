// REPLTests: tests of the REPL module against reference fixtures (Tests/Fixtures).
