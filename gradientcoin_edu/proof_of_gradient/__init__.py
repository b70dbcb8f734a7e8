"""proof_of_gradient layer (see docs/architecture.md)."""
