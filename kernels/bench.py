"""[tooling] Benchmark of the gradient-hash kernels: GB/s of payload hashed, and nonce-search hashes/s.

``gradientcoin bench`` (or ``python -m gradientcoin_edu.kernels.bench``). For each payload size it
times, on the same bytes:

* ``hashlib``     one ``hashlib.sha256`` over the whole payload: the anchor (one core, OpenSSL)
* ``cpu-chunk``   the CPU path, ``chunk_digests`` of an int32 payload (threads over slabs)
* ``cpu-fused``   the CPU path from a float32 gradient: quantize + hash
* ``cpu-verify``  the CPU path's ``fused_verify`` (hash + deviation counts + Merkle root)
* ``naive``       copy to host, then ``hashlib`` chunk by chunk in a Python loop, one thread
* with a CUDA device, the Triton kernels: ``triton-chunk``, ``triton-fused``, ``triton-verify``
  and ``triton-root`` (fused quantize + hash + Merkle tree, digests never leave the GPU)

GB/s counts payload bytes (4 per element) per second, 1 GB = 10^9 bytes. GPU times come from
``triton.testing.do_bench`` (median, after warm-up and compilation), CPU times from
``time.perf_counter`` (best of ``--repeat``). Nonce search: SHA-256d headers per second for the
CPU path (hashlib with a midstate), a plain Python hashlib loop, and the Triton kernel, for an
80-byte Bitcoin header and for our 180-byte header.

``--compile-only sm_90`` compiles every kernel for a GPU architecture without a GPU and prints
registers and spills: the check a CPU-only machine can do on the compiled code.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import platform
import struct
import sys
import time

import numpy as np

__all__ = ["add_arguments", "check_arguments", "run", "main", "compile_only", "compile_cases", "parse_arch"]

MB = 1 << 20
CPU_SIZES_MB = [1, 4, 16, 64]
GPU_SIZES_MB = [1, 16, 256, 1024, 4096]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", type=str, default=None,
                        help="payload sizes in MiB, comma separated (default: 1,4,16,64 on CPU; "
                             "1,16,256,1024,4096 on a GPU, capped by free memory)")
    parser.add_argument("--chunk-bytes", type=int, default=4096, help="chunk size in bytes (default 4096)")
    parser.add_argument("--quantum-log2", type=int, default=20, help="quantum Δ = 2^-k (default k = 20)")
    parser.add_argument("--repeat", type=int, default=3, help="CPU timings: best of this many runs (default 3)")
    parser.add_argument("--nonces", type=int, default=None,
                        help="nonces per nonce-search timing (default 50 000 on CPU, 2^26 on a GPU)")
    parser.add_argument("--no-naive", action="store_true", help="skip the slow naive column")
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    parser.add_argument("--compile-only", metavar="ARCH", default=None,
                        help="compile every Triton kernel for ARCH (e.g. sm_90, sm_75) without a GPU; "
                             "report registers and spills")


# ---------------------------------------------------------------------------------------------
# timing helpers
# ---------------------------------------------------------------------------------------------

def _best_of(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _gpu_time(fn) -> float:
    import triton.testing
    return triton.testing.do_bench(fn, warmup=25, rep=100) / 1e3     # ms -> s


def _available_bytes(cuda: bool) -> int:
    if cuda:
        import torch
        return torch.cuda.mem_get_info()[0]
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    return 4 << 30


def _sizes(args, cuda: bool) -> list[int]:
    sizes = [int(float(s) * MB) for s in args.sizes.split(",")] if args.sizes else \
        [s * MB for s in (GPU_SIZES_MB if cuda else CPU_SIZES_MB)]
    budget = _available_bytes(cuda) // 4             # payload + gradient + temporaries, with room to spare
    kept = [s for s in sizes if s <= budget]
    for s in sizes:
        if s > budget:
            print(f"skipping {s // MB} MiB: only {budget * 4 // MB} MiB free", file=sys.stderr)
    return kept


def device_line() -> str:
    import torch
    if torch.cuda.is_available():
        dev = f"GPU {torch.cuda.get_device_name(0)}"
    else:
        dev = f"CPU {platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} cores"
    try:
        import triton
        tri = f"triton {triton.__version__}"
    except Exception:
        tri = "triton not installed"
    return f"{dev} | Python {platform.python_version()} | torch {torch.__version__} | {tri} | numpy {np.__version__}"


# ---------------------------------------------------------------------------------------------
# the benchmarks
# ---------------------------------------------------------------------------------------------

def _naive(payload_t, chunk_bytes: int) -> list[bytes]:
    """What you would write first: bring the tensor to the host and loop over chunks in Python."""
    data = payload_t.cpu().numpy().tobytes()
    return [hashlib.sha256(data[i:i + chunk_bytes]).digest() for i in range(0, len(data), chunk_bytes)]


def bench_size(nbytes: int, args, cuda: bool) -> dict[str, float]:
    """GB/s per column for one payload size."""
    import torch
    from gradientcoin_edu import kernels as K
    from gradientcoin_edu.kernels import cpu

    n = nbytes // 4
    rng = np.random.default_rng(0)
    grad = (rng.standard_normal(n, dtype=np.float32) * 1e-3)
    payload = cpu.quantize(grad, args.quantum_log2)
    cb, k = args.chunk_bytes, args.quantum_log2
    gbps = lambda seconds: nbytes / seconds / 1e9  # noqa: E731
    row = {}
    row["hashlib"] = gbps(_best_of(lambda: hashlib.sha256(payload.data).digest(), args.repeat))
    row["cpu-chunk"] = gbps(_best_of(lambda: cpu.chunk_digests(payload, cb), args.repeat))
    row["cpu-fused"] = gbps(_best_of(lambda: cpu.quantize_and_digest(grad, k, cb), args.repeat))
    row["cpu-verify"] = gbps(_best_of(lambda: K.fused_verify(grad, payload, k, cb, 0.01, backend="cpu"), args.repeat))
    if cuda:
        tri = K.triton_module("chunk_hash")
        fv = K.triton_module("fused_verify")
        mr = K.triton_module("merkle_root")
        g_t, q_t = torch.from_numpy(grad).cuda(), torch.from_numpy(payload).cuda()
        same = np.array_equal(tri.chunk_digests(q_t, cb).cpu().numpy(), cpu.chunk_digests(payload, cb))
        assert same, "the Triton kernel disagrees with the CPU path"
        row["triton-chunk"] = gbps(_gpu_time(lambda: tri.chunk_digests(q_t, cb)))
        row["triton-fused"] = gbps(_gpu_time(lambda: tri.chunk_digests(g_t, cb, k)))
        row["triton-verify"] = gbps(_gpu_time(lambda: fv.fused_verify(g_t, q_t, k, cb, 0.01)))
        row["triton-root"] = gbps(_gpu_time(lambda: mr.gradient_root(g_t, cb, k)))
        src = q_t
    else:
        src = torch.from_numpy(payload)
    if not args.no_naive:
        row["naive"] = gbps(_best_of(lambda: _naive(src, cb), 1 if nbytes > 256 * MB else args.repeat))
    return row


NONCE_HEADERS = {            # header kind -> prefix (every byte before the nonce)
    "80 B (Bitcoin)": struct.pack("<I32s32sII", 1, bytes(32), bytes(range(32)), 1231006505, 0x1D00FFFF),
    "180 B (ours)": struct.pack("<I32s32s32s32sQI32s", 1, bytes(32), bytes(range(32)), bytes(32), bytes(32),
                                1_700_000_000, 0x1D00FFFF, bytes(32)),
}


def bench_nonces(args, cuda: bool) -> dict[str, dict[str, float]]:
    """Hashes per second of the nonce search, per header size: Python loop, CPU path, Triton.

    Target 0, so no nonce qualifies and every timing covers the whole range.
    """
    from gradientcoin_edu import kernels as K
    from gradientcoin_edu.kernels import cpu
    from gradientcoin_edu.kernels.triton_nonce_search import reference_nonce_search as python_loop

    n_cpu = args.nonces or 50_000
    table = {}
    for label, prefix in NONCE_HEADERS.items():
        out = {
            "python-loop": n_cpu / _best_of(lambda: python_loop(prefix, 0, 0, n_cpu), 1),
            "cpu-path": n_cpu / _best_of(lambda: cpu.nonce_search(prefix, 0, 0, n_cpu), 1),
        }
        if cuda:
            ns = K.triton_module("nonce_search")
            n_gpu = args.nonces or 1 << 26
            out["triton"] = n_gpu / _gpu_time(lambda: ns.nonce_search(prefix, 0, 0, n_gpu))
        table[label] = out
    return table


# ---------------------------------------------------------------------------------------------
# compile-only: registers and spills per kernel for a GPU architecture, no GPU needed
# ---------------------------------------------------------------------------------------------

# the kernel modules ``--compile-only`` compiles (kernels/triton_*.py)
COMPILED_MODULES = ("triton_chunk_hash", "triton_fused_verify", "triton_merkle_root", "triton_nonce_search")


def parse_arch(arch: str) -> int:
    """``sm_90`` (or ``90``) -> compute capability 90; a ``UsageError`` for anything else."""
    from gradientcoin_edu.errors import UsageError
    digits = arch.strip().lower().removeprefix("sm_")
    if not digits.isdigit() or not 30 <= int(digits) <= 200:
        raise UsageError("bad-arch", f"--compile-only takes a CUDA architecture such as sm_90 or sm_75, not {arch!r}")
    return int(digits)


def compile_cases() -> list[tuple[str, object, dict, dict]]:
    """(label, Triton kernel, signature, constants) for every kernel ``--compile-only`` compiles."""
    import importlib
    mods = {m.removeprefix("triton_"): importlib.import_module(f"gradientcoin_edu.kernels.{m}")
            for m in COMPILED_MODULES}
    i32, f64 = "*i32", "*fp64"
    chunk_sig = {"SRC": "*fp32", "OUT": i32, "BAD": i32, "K": i32, "PARAMS": f64,
                 "n_elements": "i32", "n_chunks": "i32"}
    tree_sig = {"SRC": i32, "DST": i32, "K": i32, "n": "i32"}
    cases = [
        ("chunk_hash (fused, fp32)", mods["chunk_hash"].chunk_hash_kernel, chunk_sig,
         {"CHUNK_WORDS": 1024, "BLOCK": 64, "QUANTIZE": True, "IS_F64": False}),
        ("fused_verify (fp32)", mods["fused_verify"].fused_verify_kernel,
         {"Q": i32, "G": "*fp32", "OUT": i32, "DEV": i32, "DIS": i32, "BAD": i32, "K": i32, "PARAMS": f64,
          "n_elements": "i32", "n_chunks": "i32"}, {"CHUNK_WORDS": 1024, "BLOCK": 64, "IS_F64": False}),
        ("merkle_leaf", mods["merkle_root"].merkle_leaf_kernel, tree_sig, {"BLOCK": 128}),
        ("merkle_node", mods["merkle_root"].merkle_node_kernel, tree_sig, {"BLOCK": 128}),
    ]
    nonce_sig = {"P": i32, "K": i32, "FOUND": "*i64", "start": "i64", "count": "i32"}
    for label, prefix_len in (("nonce_search (80 B)", 76), ("nonce_search (180 B)", 176),
                              ("nonce_search (2 blocks)", 60)):
        _, tail, n_blocks = mods["nonce_search"].tail_geometry(prefix_len)
        cases.append((label, mods["nonce_search"].nonce_search_kernel, nonce_sig,
                      {"TAIL_BYTES": tail, "N_BLOCKS": n_blocks, "BLOCK": 256}))
    return cases


def compile_only(arch: str, only: str | None = None) -> int:
    """Compile the kernels (those whose label starts with ``only``, default all) for ``arch``."""
    import subprocess
    import tempfile

    from gradientcoin_edu.errors import UsageError
    cc = parse_arch(arch)
    try:
        import triton
        from triton.backends.compiler import GPUTarget
        from triton.compiler import ASTSource
    except ImportError as err:
        raise UsageError("no-triton", f"--compile-only needs the triton package ({err})") from None
    cases = [c for c in compile_cases() if only is None or c[0].startswith(only)]
    if any(type(c[1]).__name__ == "InterpretedFunction" for c in cases):
        # the kernels were imported under TRITON_INTERPRET=1 (Triton's CPU interpreter), and an
        # interpreted kernel cannot be compiled: do it in a fresh interpreter without that setting
        import sys
        env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
        code = f"import sys; from gradientcoin_edu.kernels import bench; sys.exit(bench.compile_only({arch!r}, {only!r}))"
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        print(done.stdout, end="")                  # shown as ours (and captured where ours would be)
        print(done.stderr, end="", file=sys.stderr)
        return done.returncode
    cuobjdump = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
    print(f"compiling for sm_{cc} (no GPU needed) | {device_line()}")
    failed = 0
    for label, fn, sig, const in cases:
        sig = {**sig, **{name: "constexpr" for name in const}}
        t0 = time.perf_counter()
        try:
            k = triton.compile(ASTSource(fn, sig, const), target=GPUTarget("cuda", cc, 32),
                               options={"num_warps": const["BLOCK"] // 32, "enable_fp_fusion": False})
        except Exception as err:  # report and go on
            failed += 1
            print(f"  {label:26s} FAILED: {type(err).__name__}: {str(err).splitlines()[0][:200]}")
            continue
        usage = ""
        if os.path.exists(cuobjdump):
            with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
                f.write(k.asm["cubin"])
                f.flush()
                res = subprocess.run([cuobjdump, "-res-usage", f.name], capture_output=True, text=True)
                usage = " ".join(w for w in res.stdout.split() if w.startswith(("REG:", "LOCAL:")))
        print(f"  {label:26s} ok in {time.perf_counter() - t0:5.1f} s  {usage}  "
              f"funnel shifts in PTX: {k.asm['ptx'].count('shf.')}")
    return 1 if failed else 0


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------

def _table(header: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:>{w}}}" for w in widths)
    return "\n".join([fmt.format(*header)] + [fmt.format(*r) for r in rows])


def check_arguments(args) -> None:
    """Range checks: a ``UsageError`` (one line, exit status 2 from the ``gradientcoin`` command)."""
    from gradientcoin_edu.errors import UsageError
    if args.sizes is not None:
        try:
            sizes = [float(s) for s in args.sizes.split(",")]
        except ValueError:
            raise UsageError("bad-sizes", f"--sizes is a comma-separated list of MiB such as 1,4,16, "
                                          f"not {args.sizes!r}") from None
        if not sizes or min(sizes) <= 0 or any(int(s * MB) < args.chunk_bytes for s in sizes):
            raise UsageError("bad-sizes", f"every --sizes entry is a positive number of MiB, at least one chunk "
                                          f"({args.chunk_bytes} B), not {args.sizes!r}")
    if args.chunk_bytes <= 0:
        raise UsageError("bad-chunk-bytes", "--chunk-bytes is a positive number of bytes")
    if args.repeat < 1:
        raise UsageError("bad-repeat", "--repeat is at least 1")
    if args.nonces is not None and args.nonces < 1:
        raise UsageError("bad-nonces", "--nonces is at least 1")
    if args.compile_only is not None:
        parse_arch(args.compile_only)


def run(args) -> int:
    check_arguments(args)
    if args.compile_only:
        return compile_only(args.compile_only)
    import torch
    from gradientcoin_edu import kernels as K
    cuda = torch.cuda.is_available() and K.triton_available()
    print(device_line())
    print(f"chunk {args.chunk_bytes} B, Δ = 2^-{args.quantum_log2}; GB/s of int32 payload (10^9 B/s); "
          f"{'GPU: triton.testing.do_bench median' if cuda else 'no CUDA device: CPU columns only'}; "
          f"CPU: best of {args.repeat} (time.perf_counter)")
    rows, cols = [], None
    for nbytes in _sizes(args, cuda):
        row = bench_size(nbytes, args, cuda)
        cols = cols or list(row)
        rows.append([f"{nbytes / MB:g} MiB"] + [f"{row[c]:.3f}" for c in cols])
        print(f"  measured {nbytes / MB:g} MiB", file=sys.stderr)
    if rows:
        print(_table(["size"] + cols, rows, args.markdown))
        last = rows[-1]
        ratio = float(last[1 + cols.index("hashlib")]) / float(last[1 + cols.index("cpu-chunk")])
        print(f"largest size: CPU path time / one-shot hashlib.sha256 time = {ratio:.2f} (goal: at most 1.2)")
    nonce = bench_nonces(args, cuda)
    nonce_cols = list(next(iter(nonce.values())))
    print(_table(["nonce search, hashes/s"] + nonce_cols,
                 [[label] + [f"{row[c]:,.0f}" for c in nonce_cols] for label, row in nonce.items()], args.markdown))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gradientcoin_edu.kernels.bench",
                                     description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
