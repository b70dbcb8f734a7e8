"""viz layer (see docs/architecture.md)."""
