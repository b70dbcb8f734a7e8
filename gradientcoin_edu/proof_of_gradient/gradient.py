"""[consensus] The canonical gradient: what every miner computes and every verifier recomputes.

The gradient is ``∇ loss(W, batch)`` for the integer weights ``W`` (converted exactly to
float64) and a batch of committed records. The chain fixes how it is computed:

* **float64** (the canonical precision). Two honest machines then disagree by about 1e-17,
  far below the quantum; in float32 they disagree by about 1e-8, which the quantum would
  have to swallow (see ``docs/proof_of_gradient.md`` and notebook 08 for the measurement).
* **no TF32** (a GPU may otherwise silently use 10-bit mantissas in float32 matmuls) and
  deterministic algorithms where PyTorch offers them, both switched on only for the duration
  of the computation and restored afterwards.
* no dropout, no randomness: the gradient is a pure function of weights and batch.
* clipped: when its L2 norm exceeds ``clip_norm`` it is scaled down to that norm (plain SGD
  on a transformer spikes without it). The norm is ``sqrt`` of the sum of squares added in one
  fixed order - a pairwise tree of element-wise IEEE-754 additions (``sum_of_squares``) - so
  every machine gets the same bits: element-wise ``+`` and ``*`` are correctly rounded
  everywhere, only the *order* of a reduction varies between libraries, and here it is fixed.
  (The first version used ``math.fsum``, exactly rounded but about 100 times slower on a
  ``nano`` gradient: 4.4 ms against about 0.1 ms; the two differ by at most a few units in the last place.)

Thread count, BLAS and device may still differ between nodes; the tolerance of the
verification (a ±1 deviation allowed only next to a rounding boundary) absorbs that.
Taught in notebook 08.
"""
from __future__ import annotations

import contextlib
import math
import os
import threading
import weakref
from collections.abc import Callable

import numpy as np
import torch

from ..model.fixed_point import SCALE_LOG2, load_weights
from ..model.gpt import GPT, GPTConfig

__all__ = ["CANONICAL_DTYPE", "canonical_torch", "compute_gradient", "compute_loss", "record_losses",
           "sum_of_squares", "clip_gradient", "canonical_gradient"]

CANONICAL_DTYPE = torch.float64

_models = threading.local()          # .models: one reusable model per (config, dtype, device), per thread
_lock = threading.Lock()


_canonical = {"depth": 0, "old": None}              # nesting across threads (canonical_torch)
_canonical_lock = threading.Lock()


@contextlib.contextmanager
def canonical_torch():
    """Switch off TF32 and ask for deterministic algorithms; restore the old settings after.

    The settings are process-wide, so nesting is counted across threads: the first to enter saves
    and sets them, the last to leave restores them (a background thread, such as the demo's central
    baseline, cannot switch them off under another thread's gradient)."""
    with _canonical_lock:
        if _canonical["depth"] == 0:
            _canonical["old"] = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
                                 torch.get_float32_matmul_precision(), torch.are_deterministic_algorithms_enabled(),
                                 torch.is_deterministic_algorithms_warn_only_enabled())
            if torch.cuda.is_available():
                os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")   # cuBLAS needs it for determinism
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
            torch.set_float32_matmul_precision("highest")
            torch.use_deterministic_algorithms(True, warn_only=True)
        _canonical["depth"] += 1
    try:
        yield
    finally:
        with _canonical_lock:
            _canonical["depth"] -= 1
            if _canonical["depth"] == 0:
                old = _canonical["old"]
                torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old[0], old[1]
                torch.set_float32_matmul_precision(old[2])
                torch.use_deterministic_algorithms(old[3], warn_only=old[4])


def compute_gradient(cfg: GPTConfig, weights: np.ndarray, x: torch.Tensor, y: torch.Tensor, *,
                     scale_log2: int = SCALE_LOG2, dtype: torch.dtype = CANONICAL_DTYPE,
                     device: str | torch.device = "cpu", per_record: bool = False,
                     check_records: Callable[[np.ndarray], None] | None = None):
    """Gradient of the mean cross-entropy at integer weights ``weights`` on inputs ``x`` and
    targets ``y`` (both (B, T)). Returns ``(g, loss)``: ``g`` a float64 vector in the canonical
    parameter order (as NumPy; use ``device`` to compute elsewhere), ``loss`` a float; with
    ``per_record`` also each record's mean cross-entropy, (B,) float64, from the same logits (the
    loss sheet of ``sheet.py``; the gradient's bits do not depend on it).

    ``check_records`` (with ``per_record``) is called with those losses after the forward pass and
    before the backward pass; if it raises, the backward pass is never run. A verifier checks the
    block's loss sheet there, so a false entry costs it a forward pass, not a gradient. It must not
    compute with this module's functions (they would load other weights into the same thread's
    model between the two passes)."""
    if check_records is not None and not per_record:
        raise ValueError("check_records needs per_record=True")
    with canonical_torch(), _lock_model(cfg, dtype, device) as model:
        _load(model, weights, scale_log2)
        model.zero_grad(set_to_none=True)
        logits, loss = model(x.to(device), y.to(device))
        losses = _per_record(logits.detach(), y.to(device)) if per_record else None
        if check_records is not None:
            try:
                check_records(losses)
            except BaseException:
                logits = loss = None          # free the graph now, not when the traceback is dropped
                raise
        loss.backward()
        g = torch.cat([p.grad.reshape(-1) for p in model.parameters()])          # (n_params,)
        g = g.detach().to("cpu", torch.float64).numpy()
        if not per_record:
            return g, loss.item()
        return g, loss.item(), losses


def _per_record(logits: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Each record's mean cross-entropy over its T tokens, (B,) float64."""
    B, T, V = logits.shape
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1), reduction="none")
    return ce.view(B, T).mean(dim=1).to("cpu", torch.float64).numpy()


@torch.no_grad()
def record_losses(cfg: GPTConfig, weights: np.ndarray, x: torch.Tensor, y: torch.Tensor, *,
                  scale_log2: int = SCALE_LOG2, dtype: torch.dtype = CANONICAL_DTYPE,
                  device: str | torch.device = "cpu") -> np.ndarray:
    """Each record's mean cross-entropy (a forward pass only): what a node recomputes for the
    records it spot-checks in a block's loss sheet. (B,) float64."""
    with canonical_torch(), _lock_model(cfg, dtype, device) as model:
        _load(model, weights, scale_log2)
        logits, _ = model(x.to(device))
        return _per_record(logits, y.to(device))


SUM_BLOCK_LOG2 = 15              # sum_of_squares reduces aligned blocks of 2^15 elements (256 kB) in cache


def sum_of_squares(g: np.ndarray) -> float:
    """``sum(g * g)`` in a fixed order: pairs of neighbours added level by level (an odd last
    element is carried up unchanged). Element-wise IEEE operations only: the same bits everywhere.

    Computed in aligned blocks of ``2^SUM_BLOCK_LOG2`` elements: the first ``SUM_BLOCK_LOG2`` levels
    of the tree never pair across such a block (a full block starts at an even index on every level
    and holds an even number of entries there; the level sizes of the tail have the parity of the
    whole level's), so each block's sum is the level-``SUM_BLOCK_LOG2`` entry of the whole tree and
    the tree of those entries finishes it: the same additions, the same bits as the level-by-level
    definition (``tests/test_update_exact.py`` checks it), with no vector-sized temporaries."""
    g = np.asarray(g, dtype=np.float64).reshape(-1)
    n = g.size
    if n == 0:
        return 0.0
    size = 1 << SUM_BLOCK_LOG2
    sums = np.empty((n + size - 1) // size, dtype=np.float64)
    a = np.empty(min(size, n), dtype=np.float64)
    b = np.empty(max(1, (a.size + 1) // 2), dtype=np.float64)
    for i, lo in enumerate(range(0, n, size)):
        k = min(size, n - lo)
        cur = a[:k]
        np.multiply(g[lo:lo + k], g[lo:lo + k], out=cur)          # g**2: the same correctly rounded square
        src, dst = cur, b
        while src.size > 1:
            h = src.size // 2
            odd = src.size % 2
            out = dst[:h + odd]
            np.add(src[0:2 * h:2], src[1:2 * h:2], out=out[:h])
            if odd:
                out[h] = src[-1]
            src, dst = out, (a if dst is b else b)
        sums[i] = src[0]
    return _level_tree(sums)


def _level_tree(s: np.ndarray) -> float:
    """The level-by-level definition itself (used on the per-block sums)."""
    while s.size > 1:
        carry = s[-1:] if s.size % 2 else s[:0]
        s = np.concatenate([s[0:s.size - 1:2] + s[1::2], carry])
    return float(s[0]) if s.size else 0.0


def clip_gradient(g: np.ndarray, clip_norm: float) -> np.ndarray:
    """``g`` scaled down to L2 norm ``clip_norm`` when longer (``clip_norm = 0``: unchanged)."""
    if clip_norm <= 0:
        return g
    norm = math.sqrt(sum_of_squares(g))
    return g * (clip_norm / norm) if norm > clip_norm else g


def canonical_gradient(params, weights: np.ndarray, x: torch.Tensor, y: torch.Tensor,
                       device: str | torch.device = "cpu", per_record: bool = False,
                       check_records: Callable[[np.ndarray], None] | None = None):
    """The gradient the chain defines for ``params`` (a ``PoGParams``): float64, clipped.
    Returns ``(g, loss)`` with ``g`` in the canonical parameter order (``per_record``: and the
    records' losses; ``check_records``: called with them between the forward and the backward
    pass; see :func:`compute_gradient`)."""
    out = compute_gradient(params.model, weights, x, y, scale_log2=params.scale_log2, device=device,
                           per_record=per_record, check_records=check_records)
    g = out[0]
    if params.clip_norm > 0:              # g is compute_gradient's own fresh vector (torch.cat): scale it
        norm = math.sqrt(sum_of_squares(g))                                   # in place (the same products)
        if norm > params.clip_norm:
            np.multiply(g, params.clip_norm / norm, out=g)
        return out
    return (clip_gradient(g, params.clip_norm), *out[1:])


@torch.no_grad()
def compute_loss(cfg: GPTConfig, weights: np.ndarray, x: torch.Tensor, y: torch.Tensor, *,
                 scale_log2: int = SCALE_LOG2, dtype: torch.dtype = CANONICAL_DTYPE,
                 device: str | torch.device = "cpu") -> float:
    """Mean cross-entropy at integer weights ``weights`` (float64 by default): the quantity the
    validation guard compares before and after an update."""
    with canonical_torch(), _lock_model(cfg, dtype, device) as model:
        _load(model, weights, scale_log2)
        _, loss = model(x.to(device), y.to(device))
        return float(loss)


@contextlib.contextmanager
def _lock_model(cfg: GPTConfig, dtype: torch.dtype, device):
    """This thread's cached model for this key (weights overwritten by every call). One per thread,
    so that threads compute gradients side by side (the simulator verifies a block on several
    nodes at once: ``ProofOfGradient.prepare``); a thread's models go with it.

    A use that does not load its weights through :func:`_load` (a caller writing the model's
    parameters itself) leaves the model marked as holding unknown weights."""
    models = _models.__dict__.setdefault("models", {})
    key = (cfg, dtype, str(device))
    if key not in models:
        with _lock, torch.random.fork_rng(devices=[]):    # GPT() draws an init we overwrite; the RNG is global
            models[key] = GPT(cfg, dtype=dtype).to(device)
    model = models[key]
    model.__dict__["_loaded_here"] = False
    try:
        yield model
    finally:
        if not model.__dict__["_loaded_here"]:
            model.__dict__["_holds"] = None


def is_frozen(w) -> bool:
    """An int64 vector that owns its memory and is read-only: by this package's convention nobody
    writes it (no copy needed). NumPy would let its owner call ``setflags(write=True)``, and a
    writeable view taken before it was frozen stays writeable; nothing here does either, and code
    that did would break ``ModelState`` and the load skip of :func:`_load` alike."""
    return (isinstance(w, np.ndarray) and w.dtype == np.int64 and w.ndim == 1 and w.base is None
            and not w.flags.writeable)


def _load(model: GPT, weights: np.ndarray, scale_log2: int) -> None:
    """``load_weights``, skipped when this thread's model holds these very weights already: the same
    read-only array object (a chain state, which by convention nobody writes; compared by identity through a
    weak reference, so a freed array's id cannot be mistaken for it) at the same scale. ``verify``
    loads the parent's weights for the loss sheet's spot check and again for the gradient; the second
    load is skipped (0.9 ms of a 63 ms verification on ``demo``). Any other array is loaded."""
    held = model.__dict__.get("_holds")
    if held is not None and held[0]() is weights and held[1] == scale_log2 and is_frozen(weights):
        model.__dict__["_loaded_here"] = True
        return
    model.__dict__["_holds"] = None                       # a load that raises leaves nothing claimed
    load_weights(model, weights, scale_log2)
    model.__dict__["_holds"] = (weakref.ref(weights), scale_log2) if is_frozen(weights) else None
    model.__dict__["_loaded_here"] = True
