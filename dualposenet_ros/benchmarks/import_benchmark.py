"""``dualposenet benchmark --import``: time and peak memory of ``import-tf`` on a paper-size checkpoint.

The official checkpoint cannot be shipped or downloaded in a test, so a checkpoint with its exact
layout (the 75 variables of ``ModelConfig.paper()``, 67.8 M float32 parameters, about 271 MB) is
written with random values by :func:`~dualposenet_ros.research.tf_checkpoint.write_checkpoint`. The import
then runs in a fresh Python process, so its peak resident memory is measured alone: the report gives
the peak minus the process's memory just before the import started (libraries loaded), and that
figure over the size of the checkpoint's data file.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..core.config import ModelConfig, get_preset

DATA_SUFFIX = ".data-00000-of-00001"


def write_layout_checkpoint(prefix: Path, config: ModelConfig, seed: int = 0) -> int:
    """Write a checkpoint with the official variable names and shapes for ``config``; returns its data bytes."""
    from ..research.import_tf import weight_map
    from ..research.tf_checkpoint import write_checkpoint

    rng = np.random.default_rng(seed)
    arrays = {spec.tf_name: rng.standard_normal(spec.tf_shape, dtype=np.float32) * 0.01
              for spec in weight_map(config)}
    write_checkpoint(prefix, arrays)
    return prefix.with_name(prefix.name + DATA_SUFFIX).stat().st_size


def _resident_bytes() -> int:
    """Current resident set size of this process (Linux ``/proc``; peak as a fallback elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _child(prefix: str, out: str) -> dict[str, Any]:
    """Run one import in this (fresh) process and measure it."""
    from ..research.import_tf import import_tf_checkpoint  # loads torch, safetensors... before the baseline

    before = _resident_bytes()
    start = time.perf_counter()
    report = import_tf_checkpoint(prefix, out)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    return {"seconds": seconds, "baseline_bytes": before, "peak_bytes": peak, "parameters": report.parameters,
            "variables": report.variables}


def measure_import(config: ModelConfig, workdir: Path) -> dict[str, Any]:
    """Write a checkpoint of ``config``'s layout under ``workdir``, import it in a child process, measure."""
    prefix = workdir / "model-30"
    data_bytes = write_layout_checkpoint(prefix, config)
    command = [sys.executable, "-m", "dualposenet_ros.benchmarks.import_benchmark", str(prefix),
               str(workdir / "imported")]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"import benchmark child failed: {result.stderr.strip()[-2000:]}")
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    increase = max(measured["peak_bytes"] - measured["baseline_bytes"], 0)
    return {**measured, "data_bytes": data_bytes, "import_memory_bytes": increase,
            "memory_over_file": increase / data_bytes}


def format_import_report(preset: str, row: dict[str, Any]) -> str:
    return (f"import-tf of a {preset}-size TensorFlow checkpoint ({row['parameters'] / 1e6:.1f} M parameters, "
            f"{row['variables']} variables, {row['data_bytes'] / 1e6:.0f} MB data file):\n"
            f"  {row['seconds']:.2f} s | peak memory of the import {row['import_memory_bytes'] / 1e6:.0f} MB "
            f"= {row['memory_over_file']:.2f}x the file (process peak {row['peak_bytes'] / 1e6:.0f} MB, "
            f"of which {row['baseline_bytes'] / 1e6:.0f} MB libraries before the import)")


def run_import_benchmark(preset: str, json_path: Path | None = None) -> int:
    """Entry of ``dualposenet benchmark --import [PRESET]``: prints the report, optionally writes JSON."""
    with tempfile.TemporaryDirectory(prefix="dualposenet_import_") as workdir:
        row = measure_import(get_preset(preset), Path(workdir))
    print(format_import_report(preset, row))
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({"import_tf": {"preset": preset, **row}}, indent=2))
    return 0


if __name__ == "__main__":  # the measured child process of measure_import
    print(json.dumps(_child(sys.argv[1], sys.argv[2])))
