// TrainTests: tests of the Train module against reference fixtures (Tests/Fixtures).
