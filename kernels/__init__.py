"""[consensus] Gradient-hashing kernels: one function per operation, Triton on a GPU, NumPy + hashlib elsewhere.

Proof-of-gradient commits to a quantized gradient with a Merkle root over SHA-256 digests of
fixed-size chunks (``docs/architecture.md``, "Gradient commitment"). Every miner computes that
root for every lottery ticket, and every node recomputes it for every block, so it is worth a GPU
kernel. The functions below are the whole API; each picks its path from the input:

* a CUDA tensor goes to the Triton kernels (``triton_chunk_hash.py``, ``triton_fused_verify.py``,
  ``triton_merkle_root.py``, ``triton_nonce_search.py`` in this folder);
* everything else (NumPy arrays, CPU tensors, bytes) goes to the bit-exact CPU path (``cpu.py``).

``GRADIENTCOIN_KERNELS=cpu|triton|interpret`` (or ``backend=`` on any call) forces one path;
``interpret`` runs the Triton kernels in Triton's CPU interpreter (``TRITON_INTERPRET=1``), which is
how the kernels are tested without a GPU. A process loads the Triton modules once, interpreted or
compiled, whichever it asks for first (``kernel_mode()``); nothing is reloaded. When a compiled
kernel fails on this GPU (say, an architecture Triton cannot build for), auto mode falls back to
the CPU path for the rest of the process and says so once. The choice is announced once, on one line, through the
``gradientcoin_edu.kernels`` logger. Triton is optional: without it this package still imports and
uses the CPU path. Taught in notebook 11.
"""
from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import threading
from dataclasses import dataclass

import numpy as np

from gradientcoin_edu.errors import KernelError

from . import cpu

__all__ = [
    "quantize", "chunk_digests", "merkle_root_of_digests", "gradient_root", "fused_verify",
    "VerifyReport", "nonce_search", "backend_for", "triton_available", "triton_module", "kernel_mode",
    "BACKENDS", "ENV_VAR",
]

ENV_VAR = "GRADIENTCOIN_KERNELS"
BACKENDS = ("cpu", "triton", "interpret")
log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# choosing a path, and saying so once
# ---------------------------------------------------------------------------------------------

_announced: set[str] = set()
_triton_broken: str | None = None          # why a compiled kernel failed on this GPU (then: the CPU path)
_lock = threading.Lock()


def _announce(message: str, level: int = logging.WARNING) -> None:
    with _lock:
        if message in _announced:
            return
        _announced.add(message)
    log.log(level, "gradientcoin_edu.kernels: %s", message)


def triton_available() -> bool:
    """True when the ``triton`` package can be imported (a GPU is a separate question)."""
    try:
        import triton  # noqa: F401
    except Exception:  # ImportError, or a broken install
        return False
    return True


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return torch.cuda.is_available()


def _is_cuda(x) -> bool:
    return type(x).__module__.startswith("torch") and getattr(x, "is_cuda", False)


def _requested(backend: str | None) -> str:
    mode = (backend or os.environ.get(ENV_VAR) or "auto").strip().lower()
    if mode not in BACKENDS + ("auto",):
        raise KernelError("bad-backend", f"unknown kernel backend {mode!r}: use one of {', '.join(BACKENDS)}")
    return mode


def backend_for(*inputs, backend: str | None = None, prefer_gpu: bool = False) -> str:
    """Which path ("cpu", "triton" or "interpret") a call with these inputs takes, announced once."""
    mode = _requested(backend)
    if mode == "cpu":
        _announce(f"{ENV_VAR}=cpu or backend='cpu': using the CPU path", logging.INFO)
        return "cpu"
    if mode in ("triton", "interpret") and not triton_available():
        raise KernelError("backend-unavailable", f"backend {mode!r} asked for, but triton is not installed")
    if mode == "interpret":
        _announce("running the Triton kernels in Triton's CPU interpreter (slow; for tests)", logging.INFO)
        return "interpret"
    if mode == "triton":
        if not _cuda_available():
            raise KernelError("backend-unavailable", "backend 'triton' asked for, but there is no CUDA device "
                                                     "(use 'interpret' to run the kernels on the CPU)")
        return "triton"
    # auto: follow the data
    wants_gpu = any(_is_cuda(x) for x in inputs) or (prefer_gpu and _cuda_available())
    if not wants_gpu:
        if _cuda_available():
            _announce("input is not on a CUDA device: using the CPU path", logging.INFO)
        else:
            _announce("Triton not available (no CUDA device): using the CPU path")
        return "cpu"
    if not triton_available():
        _announce("Triton not available (not installed): using the CPU path")
        return "cpu"
    if _triton_broken is not None:
        return "cpu"
    return "triton"


# ---------------------------------------------------------------------------------------------
# loading the Triton modules: once per process, compiled or interpreted
# ---------------------------------------------------------------------------------------------

# short name -> module (the modules are named ``triton_*`` so that no module shadows the
# dispatch function of the same name on this package)
_TRITON_MODULES = {"sha256": "triton_sha256", "chunk_hash": "triton_chunk_hash",
                   "fused_verify": "triton_fused_verify", "merkle_root": "triton_merkle_root",
                   "nonce_search": "triton_nonce_search"}
_ALIASES = {"sha256_triton": "sha256", **{v: k for k, v in _TRITON_MODULES.items()}}
_mode: str | None = None          # "interpret" or "compiled": fixed by the first load, never changed


@contextlib.contextmanager
def _interpret_env(on: bool):
    """TRITON_INTERPRET is read when ``@triton.jit`` runs, so it must be set around the import."""
    old = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1" if on else "0"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TRITON_INTERPRET", None)
        else:
            os.environ["TRITON_INTERPRET"] = old


def kernel_mode() -> str | None:
    """How this process's Triton kernels are decorated: "interpret", "compiled", or None (not loaded yet)."""
    return _mode


def _triton(name: str, interpret: bool):
    """The kernel module ``name``. The first call imports all kernel modules, for the interpreter or
    for the compiler, and that mode holds for the life of the process (``@triton.jit`` reads
    TRITON_INTERPRET once, at import); asking for the other mode later is a ``KernelError``."""
    global _mode
    want = "interpret" if interpret else "compiled"
    with _lock:
        if _mode is None:
            early = {_decorated(sys.modules[f"{__name__}.{m}"]) for m in _TRITON_MODULES.values()
                     if f"{__name__}.{m}" in sys.modules} - {None}      # imported directly, before us
            if early and early != {want}:
                raise KernelError("kernel-mode", f"a kernel module was imported {early.pop()} before the "
                                                 f"dispatcher loaded it; {want} kernels need a new process")
            with _interpret_env(interpret):
                for mod in _TRITON_MODULES.values():          # helpers first: kernels bind them at import
                    importlib.import_module(f"{__name__}.{mod}")
            _mode = want
            if interpret:
                _quiet_interpreter_overflow_checks()
        elif _mode != want:
            raise KernelError("kernel-mode", f"the Triton kernels of this process were loaded {_mode}; "
                                             f"{want} kernels need a new process")
    return sys.modules[f"{__name__}.{_TRITON_MODULES[name]}"]


def _decorated(module) -> str | None:
    """"interpret" or "compiled": how the ``@triton.jit`` functions of ``module`` were decorated."""
    kinds = {type(v).__name__ for v in vars(module).values()}
    return "interpret" if "InterpretedFunction" in kinds else "compiled" if "JITFunction" in kinds else None


def _quiet_interpreter_overflow_checks() -> None:
    """Speed only: the interpreter re-does every integer add in int64 for an overflow assert that
    it then drops unless ``debug`` is on. SHA-256 wraps mod 2^32 on purpose, so skip that work."""
    try:
        import dataclasses
        from triton.runtime import interpreter
        opts = interpreter.interpreter_builder.options
        if not opts.debug and opts.sanitize_overflow:
            interpreter.interpreter_builder.options = dataclasses.replace(opts, sanitize_overflow=False)
    except Exception:  # an internal API: if it moves, the kernels are only slower
        pass


def triton_module(name: str, interpret: bool = False):
    """A kernel module (``"chunk_hash"``, ``"fused_verify"``, ``"merkle_root"``, ``"nonce_search"``,
    ``"sha256"``; or its file name, e.g. ``"triton_chunk_hash"``), its kernels decorated for the
    interpreter or the compiler - whichever this process loaded first (see ``kernel_mode``)."""
    if not triton_available():
        raise KernelError("backend-unavailable", "triton is not installed")
    key = _ALIASES.get(name, name)
    if key not in _TRITON_MODULES:
        raise KernelError("bad-backend", f"no kernel module {name!r}; known: {', '.join(_TRITON_MODULES)}")
    return _triton(key, interpret)


def _run(choice: str, forced: bool, name: str, gpu_fn: str, cpu_fallback, *args):
    """Run ``gpu_fn`` of kernel module ``name``; on a Triton failure in auto mode fall back once."""
    global _triton_broken
    try:
        return getattr(_triton(name, choice == "interpret"), gpu_fn)(*args)
    except KernelError:
        raise
    except Exception as err:
        if forced or "out of memory" in str(err).lower():      # a full GPU is not a broken GPU
            raise
        _triton_broken = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:200]
        _announce(f"Triton kernel failed on {_device_name()} ({_triton_broken}): using the CPU path")
        return cpu_fallback()


def _device_name() -> str:
    try:
        import torch
        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    except Exception:  # pragma: no cover
        return "this device"


def _forced(backend) -> bool:
    return _requested(backend) != "auto"


# ---------------------------------------------------------------------------------------------
# the API
# ---------------------------------------------------------------------------------------------

def quantize(grad, quantum_log2: int, *, backend: str | None = None):
    """Q = clamp(rint(float64(grad) * 2^k)) as int32 (round half to even, saturating).

    Returns a NumPy array for NumPy input and a torch tensor (same device) for a tensor.
    NaN or ±inf anywhere raises ``KernelError("non-finite")``.
    """
    choice = backend_for(grad, backend=backend)
    if choice == "cpu":
        q = cpu.quantize(grad, quantum_log2)
        if type(grad).__module__.startswith("torch"):
            import torch
            return torch.from_numpy(q).to(grad.device)
        return q
    return _run(choice, _forced(backend), "chunk_hash", "quantize",
                lambda: quantize(_to_cpu(grad), quantum_log2, backend="cpu"), grad, quantum_log2)


def chunk_digests(data, chunk_bytes: int, quantum_log2: int | None = None, *,
                  backend: str | None = None) -> np.ndarray:
    """(n_chunks, 32) uint8 SHA-256 digests of the ``chunk_bytes`` chunks of the payload bytes.

    ``data`` is an int32 payload (NumPy array, torch tensor or bytes), or, with ``quantum_log2``,
    a float gradient that is quantized on the fly (fused: the int32 payload is never stored).
    """
    cpu.check_chunk_bytes(chunk_bytes)
    choice = backend_for(data, backend=backend)
    if choice == "cpu":
        return _cpu_digests(data, chunk_bytes, quantum_log2)
    out = _run(choice, _forced(backend), "chunk_hash", "chunk_digests",
               lambda: _cpu_digests(_to_cpu(data), chunk_bytes, quantum_log2), data, chunk_bytes, quantum_log2)
    return _to_numpy(out)


def merkle_root_of_digests(digests, *, backend: str | None = None) -> bytes:
    """``"chain"`` Merkle root over 32-byte digests ((n, 32) uint8); SHA-256(b"") when empty."""
    choice = backend_for(digests, backend=backend)
    if choice == "cpu":
        return cpu.merkle_root_of_digests(digests)
    return _run(choice, _forced(backend), "merkle_root", "merkle_root_of_digests",
                lambda: cpu.merkle_root_of_digests(digests), digests)


def gradient_root(data, chunk_bytes: int, quantum_log2: int | None = None, *,
                  backend: str | None = None) -> bytes:
    """``grad_root``: the chain Merkle root over the chunk digests (see :func:`chunk_digests`)."""
    cpu.check_chunk_bytes(chunk_bytes)
    choice = backend_for(data, backend=backend)
    if choice == "cpu":
        return cpu.merkle_root_of_digests(_cpu_digests(data, chunk_bytes, quantum_log2))
    return _run(choice, _forced(backend), "merkle_root", "gradient_root",
                lambda: gradient_root(_to_cpu(data), chunk_bytes, quantum_log2, backend="cpu"),
                data, chunk_bytes, quantum_log2)


@dataclass(frozen=True)
class VerifyReport:
    """What the fused verify pass found, per chunk of the published payload.

    ``digests`` (n_chunks, 32) uint8; ``deviations`` and ``disallowed`` (n_chunks,) int64:
    elements whose published value differs from the recomputed rounding, and those of them not
    explained by a value within ``delta`` of a rounding boundary; ``root`` the payload's grad_root.
    """

    digests: np.ndarray
    deviations: np.ndarray
    disallowed: np.ndarray
    root: bytes

    @property
    def n_chunks(self) -> int:
        return int(self.digests.shape[0])

    @property
    def total_deviations(self) -> int:
        return int(self.deviations.sum())

    @property
    def total_disallowed(self) -> int:
        return int(self.disallowed.sum())


def fused_verify(grad, payload, quantum_log2: int, chunk_bytes: int, delta: float, *,
                 backend: str | None = None) -> VerifyReport:
    """One pass over a recomputed gradient ``grad`` and a published int32 ``payload``.

    Per chunk: the payload digest, the number of deviations (``Q != clamp(rint(x))``) and of
    disallowed deviations (``|Q - x| > 0.5 + delta``), with ``x = clamp(float64(g') * 2^k)``.
    """
    cpu.check_chunk_bytes(chunk_bytes)
    cpu.check_delta(delta)
    choice = backend_for(grad, payload, backend=backend)

    def on_cpu():
        d, dev, bad = cpu.fused_verify_counts(_to_cpu(grad), _to_cpu(payload), quantum_log2, chunk_bytes, delta)
        return VerifyReport(d, dev, bad, cpu.merkle_root_of_digests(d))

    if choice == "cpu":
        return on_cpu()
    d, dev, bad, root = _run(choice, _forced(backend), "fused_verify", "fused_verify",
                             lambda: _astuple(on_cpu()), grad, payload, quantum_log2, chunk_bytes, delta)
    return VerifyReport(_to_numpy(d), _to_numpy(dev).astype(np.int64), _to_numpy(bad).astype(np.int64), root)


def nonce_search(prefix: bytes, target: int, start: int, count: int, *,
                 backend: str | None = None) -> int | None:
    """First nonce in ``start .. start+count-1`` with SHA-256d(prefix ‖ nonce_le) <= ``target``.

    ``prefix`` is every header byte before the nonce, which is the header's last 4 bytes
    (u32 little-endian): 76 bytes for a Bitcoin header, 176 for ours (``BlockHeader``), any
    length works. The hash is read as a little-endian 256-bit integer (Bitcoin's rule). Returns
    None when no nonce in the range qualifies. The inputs are bytes, so there is no tensor to
    follow: the search runs on the GPU whenever a CUDA device is present (it is pure compute).
    """
    prefix = cpu.check_nonce_args(prefix, target, start, count)
    choice = backend_for(backend=backend, prefer_gpu=True)
    if choice == "cpu":
        return cpu.nonce_search(prefix, target, start, count)
    return _run(choice, _forced(backend), "nonce_search", "nonce_search",
                lambda: cpu.nonce_search(prefix, target, start, count), prefix, target, start, count)


# ---------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------

def _cpu_digests(data, chunk_bytes, quantum_log2):
    if quantum_log2 is None:
        return cpu.chunk_digests(data, chunk_bytes)
    return cpu.quantize_and_digest(data, quantum_log2, chunk_bytes)


def _to_cpu(x):
    return x.detach().cpu() if type(x).__module__.startswith("torch") else x


def _to_numpy(x) -> np.ndarray:
    if type(x).__module__.startswith("torch"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _astuple(r: VerifyReport):
    return r.digests, r.deviations, r.disallowed, r.root
