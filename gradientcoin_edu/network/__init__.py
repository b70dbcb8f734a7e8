"""network layer (see docs/architecture.md)."""
