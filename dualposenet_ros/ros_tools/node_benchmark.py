"""``dualposenet benchmark --node``: the ROS node end to end, over DDS, in a separate process.

For 1, 3, 6 and 10 instances per frame, without and with each refinement mode (``--refine``) and
on the CPU (and CUDA when ``--device auto`` finds a GPU), measures

* latency: from the input stamp (set when the benchmark publishes the frame) to the arrival of the
  node's ``~/objects`` message with that stamp, one frame at a time (median and 90th percentile
  over ``--repeats`` frames after one warm-up frame): conversion, estimation, publication and
  both DDS hops;
* throughput: estimates per second when frames come twice as fast as that latency allows (the
  node keeps the newest frame and drops the others; the dropped fraction is reported);
* where the node's time goes: the median per-stage times the node reports on /diagnostics
  (conversion, inference, gating and tracking, objects, TF, detections, markers, debug image,
  diagnostics; :mod:`.stage_times`). Markers and the debug image are only made while someone
  subscribes: ``--viewers`` subscribes to both, as RViz would, to measure them;
* with ``--library``: the library's time for the same frames, a ``PoseEstimator`` in this process
  with the node's settings and OpenMP configuration, fed what the node's conversion makes of the
  same messages, one call per latency frame of the node, before and after it in turn (so both see
  the same machine load; the node then runs in this process's session, which the scheduler
  shares alike), against the node's inference stage; and, in the same turns, the library's time
  for the frame ``dualposenet benchmark`` times with as many objects (square masks of 4,900
  pixels, where the rendered objects cover 2,000 to 40,000 pixels each).

Frames are rendered once by the synthetic generator (:mod:`dualposenet_ros.data.synth`) with
exactly that many annotated objects (640x480 by default) and published by this process with the
synthetic camera's message builder, reliable QoS on both sides. The node process is started with
the demo's process handling (``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``, a random
``ROS_DOMAIN_ID`` in 100..199) and its refinement mode is switched with a parameter call, so one
node (one model load) serves all modes of a device.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..ros.cpu_threads import CpuThreads, apply_to_torch, configure_process
from ..ros.diagnostics import OBJECTS_SUBSCRIBERS, node_status, subscriber_count
from ..ros.parameters import reliable_input_overrides
from ..ros.stage_times import STAGE_KEY_PREFIX, parse_stage_value
from .processes import (ChildProcess, ProcessError, configure_this_process, executable_command, pick_domain_id,
                        ros_args, stop_all, TerminateAsInterrupt)

__all__ = ["INSTANCE_COUNTS", "benchmark_frames", "configure_parser", "format_rows", "run", "run_node_benchmark"]

INSTANCE_COUNTS = (1, 3, 6, 10)
DIAGNOSTICS_PERIOD = 0.5
"""Seconds between the node's statuses during the benchmark (each carries the stage times)."""


def benchmark_frames(counts: Sequence[int], size: tuple[int, int] = (640, 480), seed: int = 0,
                     attempts: int = 30) -> dict[int, Any]:
    """A rendered synthetic frame with (as close as possible to) each number of annotated objects."""
    from ..data.synth import SceneConfig, SceneSampler, render_scene
    from .synthetic_camera import camera_intrinsics

    intrinsics = camera_intrinsics(*size)
    frames = {}
    for count in counts:
        sampler = SceneSampler(SceneConfig(objects=(count, count)), intrinsics, size)
        best = None
        for attempt in range(attempts):
            frame = render_scene(sampler.sample(np.random.default_rng([seed, count, attempt])), intrinsics, size)
            if best is None or abs(len(frame.instances) - count) < abs(len(best.instances) - count):
                best = frame
            if len(frame.instances) == count:
                break
        frames[count] = best
    return frames


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else float("nan")


class _Bench:
    """The benchmark's rclpy side: publishers of the four inputs and the objects subscription."""

    def __init__(self, context: Any, viewers: bool = False) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile
        from sensor_msgs.msg import CameraInfo, Image
        from visualization_msgs.msg import MarkerArray

        from dualposenet_ros.msg import InstanceSegmentation, ObjectPoseArray

        self.node = rclpy.create_node("dualposenet_node_benchmark", context=context)
        qos = QoSProfile(depth=5)
        self.publishers = [self.node.create_publisher(t, topic, qos) for t, topic in (
            (Image, "/color/image"), (Image, "/depth/image"), (CameraInfo, "/color/camera_info"),
            (InstanceSegmentation, "/segmentation"))]
        self.arrivals: dict[int, float] = {}
        self.node.create_subscription(ObjectPoseArray, "/dualposenet/objects", self._on_objects, QoSProfile(depth=50))
        self.stages: dict[str, list[float]] = {}
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, QoSProfile(depth=10))
        if viewers:  # what RViz would subscribe to
            self.node.create_subscription(MarkerArray, "/dualposenet/markers", lambda msg: None, QoSProfile(depth=5))
            self.node.create_subscription(Image, "/dualposenet/debug_image", lambda msg: None, QoSProfile(depth=5))
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self._parameters: Any = None
        self.objects_subscribers = 0  # the node's own count of its matched ~/objects subscribers

    def _on_diagnostics(self, msg: Any) -> None:
        status = node_status(msg, "/dualposenet")
        if status is None:  # another node's status
            return
        self.objects_subscribers = subscriber_count(status.get(OBJECTS_SUBSCRIBERS)) or 0
        for key, value in status.items():
            if key.startswith(STAGE_KEY_PREFIX):
                median, _, _ = parse_stage_value(value)
                self.stages.setdefault(key[len(STAGE_KEY_PREFIX):], []).append(median)

    def stage_medians(self, node: ChildProcess, settle: float) -> dict[str, float]:
        """Median over the statuses since the last call of each stage's per-status median (ms),
        after waiting ``settle`` seconds for the status that covers the last frames."""
        self.spin_until(lambda: False, settle, node)
        stages, self.stages = self.stages, {}
        return {stage: float(np.median(values)) for stage, values in stages.items()}

    def _on_objects(self, msg: Any) -> None:
        self.arrivals.setdefault(msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec, time.time())

    def publish(self, messages: Any) -> int:
        """Publish one frame stamped now; returns the stamp (ns)."""
        stamp = self.node.get_clock().now().to_msg()
        color, depth, info, segmentation = messages[:4]
        for msg in (color, depth, info, segmentation, segmentation.labels):
            msg.header.stamp = stamp
        for publisher, msg in zip(self.publishers, (color, depth, info, segmentation)):
            publisher.publish(msg)
        return stamp.sec * 1_000_000_000 + stamp.nanosec

    def spin_until(self, condition: Any, timeout: float, node: ChildProcess) -> bool:
        deadline = time.monotonic() + timeout
        while not condition():
            if not node.running:
                raise ProcessError(f"the dualposenet node exited with status {node.returncode}; its log "
                                f"({node.log_path}):\n{node.log_tail()}")
            if time.monotonic() > deadline:
                return False
            self.executor.spin_once(timeout_sec=0.02)
        return True

    def set_refine(self, mode: str, node: ChildProcess, timeout: float = 30.0) -> None:
        from rclpy.parameter import Parameter
        from rclpy.parameter_client import AsyncParameterClient

        if self._parameters is None:
            self._parameters = AsyncParameterClient(self.node, "dualposenet")
        client = self._parameters
        if not client.wait_for_services(timeout_sec=timeout):
            raise ProcessError("the node's parameter services did not appear")
        future = client.set_parameters([Parameter("refine.mode", Parameter.Type.STRING, mode)])
        if not self.spin_until(future.done, timeout, node):
            raise ProcessError(f"setting refine.mode to {mode} timed out")
        result = future.result().results[0]
        if not result.successful:
            raise ProcessError(f"the node refused refine.mode {mode}: {result.reason}")

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()


class _Library:
    """The library on the node's frames (``--library``): a ``PoseEstimator`` in this process with
    the node's default settings, the same checkpoint, device, precision, backend and CPU threads
    (this process configured itself as the node does, before torch loaded), fed the
    ``FrameInput`` the node's conversion makes of the same messages."""

    def __init__(self, checkpoint: str | None, device: str, args: argparse.Namespace, threads: CpuThreads) -> None:
        import torch

        from ..inference.pipeline import PoseEstimator
        from ..ros.parameters import estimator_settings, specs

        self.defaults = {spec.name: spec.default for spec in specs()}
        settings = estimator_settings({**self.defaults, "residual_points": int(getattr(args, "residual_points", 0))})
        apply_to_torch(threads)
        self.threads = {"threads": torch.get_num_threads(), "omp_wait_policy": threads.wait_policy,
                        "set_before_torch": threads.before_torch}
        self.estimator = PoseEstimator.from_checkpoint(checkpoint, device, settings,
                                                       precision=getattr(args, "precision", "fp32"),
                                                       backend=getattr(args, "backend", "torch"))
        self._synchronise = torch.cuda.synchronize if self.estimator.device.type == "cuda" else (lambda: None)

    def frame(self, messages: Any) -> Any:
        """The node's conversion of a frame's messages, with the node's default limits."""
        from ..ros.conversions import frame_from_messages
        from ..ros.segmentation_inputs import InstanceReader, parse_class_map

        values = self.defaults
        reader = InstanceReader(values["segmentation_format"], parse_class_map(values["class_map"]))
        return frame_from_messages(*messages[:4], max_pixels=values["max_image_pixels"],
                                   depth_range=(values["depth.min"], values["depth.max"]),
                                   max_instances=values["max_instances"], read_instances=reader.read).frame

    @staticmethod
    def benchmark_frame(count: int) -> Any:
        """The frame ``dualposenet benchmark`` times with ``count`` objects."""
        from ..benchmarks.benchmark import benchmark_frame

        return benchmark_frame(count, np.random.default_rng(1))

    def timer(self, frame: Any, mode: str) -> Callable[[], float]:
        """A function returning the seconds of one estimate of ``frame`` with refinement ``mode``."""
        def measure() -> float:
            self._synchronise()
            start = time.perf_counter()
            self.estimator.estimate(frame, refine=mode)
            self._synchronise()
            return time.perf_counter() - start

        return measure


def _measure(bench: _Bench, node: ChildProcess, messages: Any, repeats: int, timeout: float,
             library: dict[str, Callable[[], float]] | None = None) -> dict[str, Any]:
    """Latency (one frame at a time), then throughput; with ``library`` (result field -> timer),
    one call of each timer per latency frame, the node idle meanwhile."""
    latencies: list[float] = []
    library_times: dict[str, list[float]] = {field: [] for field in library or {}}
    for index in range(1 + repeats):  # one warm-up frame
        # The library's turn alternates before and after the node's frame, so neither side always
        # follows the other's work (the node publishing its outputs, caches, the scheduler).
        turn = {field: timer() for field, timer in (library or {}).items()} if index % 2 else {}
        stamp = bench.publish(messages)
        if not bench.spin_until(lambda: stamp in bench.arrivals, timeout, node):
            raise ProcessError(f"no estimate within {timeout:g} s of a frame; node log ({node.log_path}):\n"
                            f"{node.log_tail()}")
        if not index % 2:
            turn = {field: timer() for field, timer in (library or {}).items()}
        if index > 0:
            latencies.append(bench.arrivals[stamp] - stamp * 1e-9)
            for field, seconds in turn.items():
                library_times[field].append(seconds)
    median = statistics.median(latencies)
    node_inference = None
    if library:  # the node's inference stage over the same frames as the library's turns (statuses so far)
        bench.spin_until(lambda: False, 2.5 * DIAGNOSTICS_PERIOD, node)
        node_inference = [float(value) for value in bench.stages.get("inference", [])]
    # Throughput: frames at twice the rate the latency allows; the node drops what it cannot take.
    period = max(median / 2.0, 1.0 / 30.0)
    count = max(2 * repeats, 6)
    stamps = []
    next_time = time.monotonic()
    for _ in range(count):
        while time.monotonic() < next_time:
            bench.executor.spin_once(timeout_sec=max(0.0, min(0.01, next_time - time.monotonic())))
        stamps.append(bench.publish(messages))
        next_time += period
    if not bench.spin_until(lambda: stamps[-1] in bench.arrivals, timeout + count * median, node):
        raise ProcessError("the node did not estimate the last frame of the throughput run")
    done = sorted(bench.arrivals[s] for s in stamps if s in bench.arrivals)
    fps = (len(done) - 1) / (done[-1] - done[0]) if len(done) > 1 and done[-1] > done[0] else float("nan")
    result = {"latency_median_ms": median * 1e3, "latency_p90_ms": _percentile(latencies, 90) * 1e3,
              "latency_min_ms": min(latencies) * 1e3, "throughput_fps": fps, "frames_sent": count,
              "frames_estimated": len(done), "dropped_fraction": 1.0 - len(done) / count}
    for field, times in library_times.items():
        result[field] = statistics.median(times) * 1e3
        result[f"{field}_samples"] = [seconds * 1e3 for seconds in times]
    if library_times:
        result["latency_ms_samples"] = [seconds * 1e3 for seconds in latencies]
        result["node_inference_ms"] = float(np.median(node_inference)) if node_inference else float("nan")
        result["node_inference_ms_samples"] = node_inference
    return result


def _rss_mb(pid: int) -> float:
    """Resident memory of a process (Linux /proc), MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def _soak(bench: _Bench, node: ChildProcess, messages: Any, seconds: float, rate: float) -> dict[str, Any]:
    """Frames at ``rate`` Hz for ``seconds``: per-minute latency and the node's memory, to show
    that latency stays bounded (latest frame wins, no queue growth) and memory stays flat."""
    start = next_time = time.monotonic()
    sent: list[tuple[float, int]] = []  # (elapsed s, stamp)
    memory: list[tuple[float, float]] = []
    next_sample = start
    while (now := time.monotonic()) - start < seconds:
        if now >= next_sample:
            memory.append((now - start, _rss_mb(node.process.pid)))
            next_sample += 5.0
        if now >= next_time:
            sent.append((now - start, bench.publish(messages)))
            next_time += 1.0 / rate
        bench.spin_until(lambda: time.monotonic() >= min(next_time, next_sample), 1.0, node)
    bench.spin_until(lambda: False, 2.0, node)  # collect the last estimates
    minutes = []
    for minute in range(int(np.ceil(seconds / 60.0))):
        window = [(t, s) for t, s in sent if minute * 60 <= t < (minute + 1) * 60]
        latencies = [bench.arrivals[s] - s * 1e-9 for _, s in window if s in bench.arrivals]
        rss = [m for t, m in memory if minute * 60 <= t < (minute + 1) * 60]
        minutes.append({"minute": minute + 1, "frames_sent": len(window), "frames_estimated": len(latencies),
                        "latency_median_ms": _percentile(latencies, 50) * 1e3,
                        "latency_max_ms": max(latencies, default=float("nan")) * 1e3,
                        "rss_mb": float(np.nanmax(rss)) if rss else float("nan")})
    return {"seconds": seconds, "rate_hz": rate, "minutes": minutes}


def format_soak(result: dict[str, Any]) -> str:
    header = f"{'minute':>6} {'sent':>6} {'estimated':>9} {'latency ms':>11} {'max ms':>8} {'node RSS MB':>12}"
    lines = [f"Soak: {result['rate_hz']:g} Hz input for {result['seconds']:g} s", header, "-" * len(header)]
    lines += [f"{m['minute']:>6} {m['frames_sent']:>6} {m['frames_estimated']:>9} {m['latency_median_ms']:>11.1f} "
              f"{m['latency_max_ms']:>8.1f} {m['rss_mb']:>12.1f}" for m in result["minutes"]]
    return "\n".join(lines)


def format_rows(rows: Sequence[dict[str, Any]]) -> str:
    header = (f"{'device':>7} {'refine':>8} {'instances':>9} {'latency ms':>11} {'p90 ms':>8} {'throughput fps':>15} "
              f"{'dropped':>8}")
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(f"{row['device']:>7} {row['refine']:>8} {row['instances']:>9} {row['latency_median_ms']:>11.1f} "
                     f"{row['latency_p90_ms']:>8.1f} {row['throughput_fps']:>15.2f} "
                     f"{row['dropped_fraction'] * 100:>7.0f}%")
    return "\n".join(lines)


def format_stages(rows: Sequence[dict[str, Any]]) -> str:
    """Per-stage median milliseconds inside the node, one row per configuration."""
    stages: list[str] = []
    for row in rows:
        stages += [stage for stage in row.get("stages_ms", {}) if stage not in stages]
    header = f"{'device':>7} {'refine':>8} {'instances':>9} " + " ".join(f"{stage:>12.12}" for stage in stages)
    lines = ["Time inside the node per frame, ms (median of the per-status medians on /diagnostics):", header,
             "-" * len(header)]
    for row in rows:
        cells = " ".join(f"{row.get('stages_ms', {}).get(stage, float('nan')):>12.2f}" for stage in stages)
        lines.append(f"{row['device']:>7} {row['refine']:>8} {row['instances']:>9} {cells}")
    return "\n".join(lines)


def format_library(rows: Sequence[dict[str, Any]]) -> str:
    """The node's inference stage (per-status medians while the library took its turns) against the
    library on the same frames (rows with ``library_ms``), medians and minima (the least disturbed
    turn on a shared machine), and the library on the frame of ``dualposenet benchmark``."""
    header = (f"{'device':>7} {'refine':>8} {'instances':>9} {'mask px':>8} {'node inference ms':>18} "
              f"{'library ms':>11} {'ratio':>6} {'min: node':>10} {'library':>8} {'ratio':>6} "
              f"{'library, benchmark frame ms':>28}")
    lines = ["Node vs library on the same frames (medians, then minima; mask px: pixels of the frame's masks):",
             header, "-" * len(header)]
    for row in rows:
        if "library_ms" in row:
            inference, library = row["node_inference_ms"], row["library_ms"]
            lowest = min(row["node_inference_ms_samples"] or [float("nan")])
            lowest_library = min(row["library_ms_samples"])
            lines.append(f"{row['device']:>7} {row['refine']:>8} {row['instances']:>9} {row['mask_pixels']:>8} "
                         f"{inference:>18.1f} {library:>11.1f} {inference / library:>6.2f} {lowest:>10.1f} "
                         f"{lowest_library:>8.1f} {lowest / lowest_library:>6.2f} "
                         f"{row['library_benchmark_frame_ms']:>28.1f}")
    return "\n".join(lines)


def _devices(requested: str) -> list[str]:
    import torch

    if requested == "auto":
        return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    return [requested]


def _checkpoint(args: argparse.Namespace, scratch: Path) -> tuple[str | None, str]:
    """(checkpoint for the node or None for the shipped one, description)."""
    if args.checkpoint:
        return str(Path(args.checkpoint).expanduser().resolve()), str(args.checkpoint)
    from ..model.checkpoint import checkpoint_files
    from ..models import default_checkpoint

    weights, config = checkpoint_files(default_checkpoint())
    if weights.is_file() and config.is_file():
        return None, f"shipped model {default_checkpoint().name}"
    import torch

    from ..core.config import get_preset
    from ..model.checkpoint import save_checkpoint
    from ..model.network import DualPoseNet

    torch.manual_seed(0)
    path = scratch / f"random_{args.preset}"
    save_checkpoint(path, DualPoseNet(get_preset(args.preset)), {"note": "random weights for timing"})
    return str(path), f"{args.preset} preset with random weights (no shipped model yet; timings only)"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Options of ``dualposenet benchmark --node`` (the command line routes ``--node`` here)."""
    from ..inference.backends import Backend
    from ..model.precision import Precision

    parser.add_argument("--node", action="store_true", required=True,
                        help="benchmark the ROS node end to end over DDS (this mode)")
    parser.add_argument("--preset", default="compact",
                        help="model preset when no shipped model exists (random weights)")
    parser.add_argument("--checkpoint", help="checkpoint for the node (default: the shipped model)")
    parser.add_argument("--device", default="auto", help="auto (CPU, and CUDA where present), cpu or cuda[:N]")
    parser.add_argument("--precision", default="fp32", choices=Precision.values(),
                        help="the node's precision parameter")
    parser.add_argument("--backend", default="torch", choices=Backend.values(),
                        help="the node's backend parameter")
    parser.add_argument("--residual-points", type=int, default=0, metavar="N",
                        help="the node's residual_points parameter (0 = all sampled points)")
    parser.add_argument("--repeats", type=int, default=5, help="frames timed per configuration")
    parser.add_argument("--viewers", action="store_true",
                        help="subscribe to ~/markers and ~/debug_image (as RViz would), so they are made and timed")
    parser.add_argument("--refine", nargs="*", default=["none", "feature", "encoder"],
                        help="refinement modes to measure")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    parser.add_argument("--soak", type=float, default=0, metavar="SECONDS",
                        help="feed frames of --soak-instances objects at --soak-rate for this long and report "
                             "latency and node memory per minute")
    parser.add_argument("--soak-rate", type=float, default=30.0, metavar="HZ")
    parser.add_argument("--soak-instances", type=int, metavar="N",
                        help="objects in the soak's frame (default: the largest --node-instances); a rendered scene "
                             "may hold a few fewer, the report says how many")
    parser.add_argument("--node-instances", type=int, nargs="+", metavar="N",
                        help="instance counts of the frames (default 1 3 6 10)")
    parser.add_argument("--threads", type=int, default=0, metavar="N",
                        help="the node's threads parameter (0 = its default: the cores it may use)")
    parser.add_argument("--library", action="store_true",
                        help="also time the library (PoseEstimator in this process, the node's settings) on the "
                             "same frames, one call per node frame (before and after it in turn), against the "
                             "node's inference stage")


def run(args: argparse.Namespace) -> int:
    return run_node_benchmark(args)


def run_node_benchmark(args: argparse.Namespace) -> int:
    """``dualposenet benchmark --node``. ``args``: checkpoint, device, repeats, json, refine (modes),
    preset; optional node_instances, node_size (width, height), domain_id, node_timeout."""
    try:
        with TerminateAsInterrupt():
            return _run(args)
    except ProcessError as error:
        print(f"dualposenet benchmark --node: error: {error}")
        return 2
    except KeyboardInterrupt:
        print("dualposenet benchmark --node: interrupted")
        return 130


def _run(args: argparse.Namespace) -> int:
    counts = tuple(getattr(args, "node_instances", None) or INSTANCE_COUNTS)
    size = tuple(getattr(args, "node_size", None) or (640, 480))
    timeout = float(getattr(args, "node_timeout", None) or 300.0)
    modes = list(args.refine) if args.refine else ["none"]
    threads = max(0, int(getattr(args, "threads", 0) or 0))
    # The library side runs with the node's OpenMP settings, set before this process loads torch.
    process_threads = configure_process(threads) if getattr(args, "library", False) else None
    repeats = max(1, int(args.repeats))
    domain = pick_domain_id(getattr(args, "domain_id", None))
    env = configure_this_process(domain)
    import rclpy

    from .synthetic_camera import frame_messages

    soak_count = int(getattr(args, "soak_instances", None) or max(counts))
    rendered = (*counts, soak_count) if getattr(args, "soak", 0) and soak_count not in counts else counts
    print(f"Rendering frames with {', '.join(map(str, rendered))} objects at {size[0]}x{size[1]}...", flush=True)
    frames = benchmark_frames(rendered, size)
    from builtin_interfaces.msg import Time

    messages = {count: frame_messages(frame, Time()) for count, frame in frames.items()}
    rows: list[dict[str, Any]] = []
    soaks: list[dict[str, Any]] = []
    libraries: list[dict[str, Any]] = []  # the library side's threads and wait policy, per device
    with tempfile.TemporaryDirectory(prefix="dualposenet-node-benchmark-") as scratch:
        checkpoint, description = _checkpoint(args, Path(scratch))
        print(f"Node benchmark: {description}; ROS_DOMAIN_ID={domain} (localhost only); node logs in {scratch}",
              flush=True)
        for device in _devices(args.device):
            context = rclpy.context.Context()
            rclpy.init(context=context, domain_id=domain)
            bench = library = None
            parameters = {"device": device, **reliable_input_overrides(), "diagnostics_period": DIAGNOSTICS_PERIOD,
                          "precision": getattr(args, "precision", "fp32"), "backend": getattr(args, "backend", "torch"),
                          "residual_points": int(getattr(args, "residual_points", 0)), "threads": threads}
            if checkpoint:
                parameters["checkpoint"] = checkpoint
            command = [*executable_command("dualposenet_node", "dualposenet_ros.ros.node"), *ros_args(parameters)]
            # With --library, the node in this process's session: both sides scheduled alike.
            node = ChildProcess("dualposenet_node", command, env, Path(scratch) / f"node_{device}.log",
                                own_session=not getattr(args, "library", False))
            try:
                bench = _Bench(context, viewers=bool(getattr(args, "viewers", False)))
                node.start()
                if getattr(args, "library", False):
                    library = _Library(checkpoint, device, args, process_threads)
                    libraries.append({"device": device, **library.threads})
                    frames_in = {count: library.frame(messages[count]) for count in counts}
                    reference = {count: library.benchmark_frame(count) for count in counts}
                # The node's own count: an estimate it publishes before it has matched this
                # subscriber is lost, whatever this side's view of the graph says.
                ready = bench.spin_until(lambda: all(p.get_subscription_count() > 0 for p in bench.publishers)
                                         and bench.objects_subscribers > 0, 120.0, node)
                if not ready:
                    raise ProcessError(f"the node did not subscribe and reach this benchmark's subscriber within "
                                       f"120 s; its log:\n{node.log_tail()}")
                if getattr(args, "soak", 0):
                    soak = _soak(bench, node, messages[soak_count], float(args.soak), float(args.soak_rate))
                    soak.update(device=device, instances=len(frames[soak_count].instances))
                    soaks.append(soak)
                    print(format_soak(soak), flush=True)
                    continue
                for mode in modes:
                    bench.set_refine(mode, node)
                    for count in counts:
                        bench.stage_medians(node, 0.0)  # forget the statuses of earlier configurations
                        timers = None if library is None else {
                            "library_ms": library.timer(frames_in[count], mode),
                            "library_benchmark_frame_ms": library.timer(reference[count], mode)}
                        result = _measure(bench, node, messages[count], repeats, timeout, timers)
                        if library is not None:
                            result["mask_pixels"] = sum(int(i.mask.sum()) for i in frames_in[count].instances)
                        row = {"device": device, "refine": mode, "instances": len(frames[count].instances),
                               "requested_instances": count, **result,
                               "stages_ms": bench.stage_medians(node, 2.5 * DIAGNOSTICS_PERIOD)}
                        rows.append(row)
                        print(format_rows([row]).splitlines()[-1] if len(rows) > 1 else format_rows([row]), flush=True)
            finally:
                stop_all([node])
                if bench is not None:
                    bench.close()
                if context.ok():
                    rclpy.shutdown(context=context)
    if rows:
        print()
        print(format_rows(rows))
        print()
        print(format_stages(rows))
        if libraries:
            print()
            print(format_library(rows))
    report = {"node_benchmark": {"model": description, "image_size": list(size), "repeats": repeats,
                                 "precision": getattr(args, "precision", "fp32"),
                                 "backend": getattr(args, "backend", "torch"),
                                 "residual_points": int(getattr(args, "residual_points", 0)),
                                 "viewers": bool(getattr(args, "viewers", False)), "threads": threads,
                                 "library": libraries, "rows": rows, "soak": soaks}}
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2))
        print(f"Wrote {path}")
    return 0
