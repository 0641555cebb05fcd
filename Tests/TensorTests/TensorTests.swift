// TensorTests: tests of the Tensor module against reference fixtures (Tests/Fixtures).
