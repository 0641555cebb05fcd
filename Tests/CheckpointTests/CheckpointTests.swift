// CheckpointTests: tests of the Checkpoint module against reference fixtures (Tests/Fixtures).
