#!/usr/bin/env bash
# The GPU checks of docs/benchmarks_llm.md ("The GPU path"), in a few minutes on one CUDA machine:
#   1. the GPU tests (pytest -m gpu: the compiled Triton kernels against the CPU path, bit for bit)
#   2. the kernel benchmark (gradientcoin bench --markdown: GB/s and hashes/s, CPU path vs Triton)
#   3. CPU vs GPU gradient noise, float64 and float32, quantized at the chain's quantum
#   4. a few gpu-preset blocks mined with GPU gradients and verified by a CPU node
# Every figure is printed; nothing here has run on a GPU yet. Usage, from the repository root:
#   bash scripts/gpu_check.sh [python]        (default: .venv/bin/python if present, else python)
set -u
PY=${1:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
export PYTHONUNBUFFERED=1
step() { echo; echo "=== $1 ($(date +%T)) ==="; }

step "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "nvidia-smi not found"
"$PY" -c "import torch, platform; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'device',
torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'NONE', '| python', platform.python_version())"
"$PY" -c "import triton; print('triton', triton.__version__)" || echo "triton not installed"

step "1. pytest -m gpu"
timeout 240 "$PY" -m pytest -m gpu -q -p no:cacheprovider tests/ 2>&1 | tail -25

step "2. gradientcoin bench --markdown"
timeout 180 "$PY" -m gradientcoin_edu bench --markdown 2>&1 | tail -40

step "3. noise: CPU vs GPU gradients (gpu preset)"
timeout 120 "$PY" benchmarks/gpu_check.py noise --preset gpu 2>&1 | tail -10

step "4. gpu-preset blocks mined on the GPU, verified on the CPU"
timeout 300 "$PY" benchmarks/gpu_check.py blocks --preset gpu --blocks 3 2>&1 | tail -10

step "done"
