"""tools/gpu_check.sh on a machine without a GPU: it says so, writes nothing and exits 0 (the GPU
path itself runs where a GPU is: tools/gpu_check.sh, docs/benchmarks.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "gpu_check.sh"


def test_without_a_gpu_it_says_so_and_exits_0(tmp_path):
    out = tmp_path / "benchmarks"
    # An empty CUDA_VISIBLE_DEVICES hides any GPU from torch, so this is the no-GPU path everywhere.
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "GPU_CHECK_OUT": str(out), "PYTHON": sys.executable}
    env.pop("GPU_CHECK_DEVICE", None)
    result = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no CUDA GPU on this machine" in result.stdout
    assert not out.exists(), "nothing is written without a GPU"
