"""The node's CPU threads, configured before torch loads: OpenMP passive waiting and the thread count.

torch runs its CPU kernels on an OpenMP (libgomp) thread pool, which reads ``OMP_WAIT_POLICY``
and ``OMP_NUM_THREADS`` once, when torch is imported. Left alone, the pool's threads spin after
each parallel region; in a node they share the cores with the executor and DDS threads and with the
camera driver and the segmenter, and spinning starves them (measured on 2 cores: about three times
the latency). So the node, before its first import of torch (loading the model), sets

* ``OMP_WAIT_POLICY=PASSIVE``, unless the environment already chose a policy;
* the thread count of the ``threads`` parameter; 0 = ``OMP_NUM_THREADS`` when set, else the
  cores this process may run on (``os.sched_getaffinity``: taskset, cpusets of containers).

The node reads ``threads`` from its parameter overrides right after rcl has parsed the command line
and the parameter files (``-p``, ``--params-file``, wildcards and namespaces, as launch passes
them), before its parameter table is built (building it imports torch for the estimator
defaults), so the same holds for ``ros2 run``, ``ros2 launch`` and ``python -m``. Where torch was
imported before the node (a program that builds the node itself), the count still applies
(``torch.set_num_threads``) but the wait policy cannot: :attr:`CpuThreads.before_torch` says so.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

__all__ = ["WAIT_POLICY", "CpuThreads", "apply_to_torch", "configure_process", "requested_threads", "thread_count"]

WAIT_POLICY = "PASSIVE"
"""OpenMP wait policy the node sets unless the environment has one."""


@dataclass(frozen=True)
class CpuThreads:
    """The thread settings of this process."""

    count: int
    """Intra-op threads of torch (and of ONNX Runtime)."""
    source: str
    """Where ``count`` comes from: ``threads parameter``, ``OMP_NUM_THREADS`` or ``CPU affinity``."""
    wait_policy: str
    """``OMP_WAIT_POLICY`` of the environment (PASSIVE unless the user chose another)."""
    before_torch: bool
    """Set before torch loaded: libgomp read them. False: torch was imported before the node."""

    def summary(self) -> str:
        text = f"{self.count} ({self.source}), OpenMP wait policy {self.wait_policy}"
        return text if self.before_torch else text + " (not applied: torch was loaded before the node)"


def requested_threads(overrides: Mapping[str, Any]) -> int:
    """The ``threads`` parameter given at start (``overrides``: rclpy's parameter overrides by
    name); 0 when absent or not a non-negative integer (the parameter table reports a bad value)."""
    override = overrides.get("threads")
    value = getattr(override, "value", override)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _positive_int(text: str | None) -> int | None:
    try:
        value = int(str(text).strip())
    except ValueError:
        return None
    return value if value > 0 else None


def _affinity_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def thread_count(threads: int, environ: Mapping[str, str] | None = None) -> tuple[int, str]:
    """(count, where it comes from) for the ``threads`` parameter (0 = ``OMP_NUM_THREADS`` of
    ``environ`` when set, else the CPU affinity of this process)."""
    environ = os.environ if environ is None else environ
    if threads > 0:
        return threads, "threads parameter"
    from_environment = _positive_int(environ.get("OMP_NUM_THREADS"))
    if from_environment is not None:
        return from_environment, "OMP_NUM_THREADS"
    return _affinity_cores(), "CPU affinity"


def configure_process(threads: int, environ: MutableMapping[str, str] | None = None) -> CpuThreads:
    """Set the OpenMP environment of this process for ``threads`` (0 = automatic) before torch
    loads, and return what was chosen. ``environ`` defaults to ``os.environ``."""
    environ = os.environ if environ is None else environ
    before_torch = "torch" not in sys.modules
    count, source = thread_count(threads, environ)
    if not environ.get("OMP_WAIT_POLICY", "").strip():  # an empty value is invalid to libgomp: unset
        environ["OMP_WAIT_POLICY"] = WAIT_POLICY
    environ["OMP_NUM_THREADS"] = str(count)  # libgomp and MKL size their pools from it when torch loads
    return CpuThreads(count, source, environ["OMP_WAIT_POLICY"].strip().upper(), before_torch)


def apply_to_torch(threads: CpuThreads) -> None:
    """Give torch the thread count (needed where torch was loaded first; harmless otherwise)."""
    import torch

    if torch.get_num_threads() != threads.count:
        torch.set_num_threads(threads.count)
