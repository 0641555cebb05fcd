// CommandsTests: tests of the Commands module against reference fixtures (Tests/Fixtures).
