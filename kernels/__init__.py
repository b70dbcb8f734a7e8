"""Triton GPU kernels (with bit-exact CPU paths) for gradient hashing and nonce search. See kernels/README."""
