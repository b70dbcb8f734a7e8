"""ledger layer (see docs/architecture.md)."""
