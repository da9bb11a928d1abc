"""``dualposenet demo``: the synthetic camera and the pose node in separate processes over DDS.

The demo starts the ``dualposenet_node`` and ``synthetic_camera`` executables as two processes
(their logs go to ``<out>/*.log``), subscribes to ``/dualposenet/objects`` and
``/synthetic_camera/ground_truth``, lets the camera publish ``--frames`` frames at ``--rate``
and waits for the node's estimate of the last one. The camera starts only once the node has
subscribed to its inputs and reports on ``/diagnostics`` that its ``~/objects`` publisher has
matched the demo's subscribers: discovery runs per pair of processes, one side of a pair can
know the other seconds before the reverse on a busy machine, and an estimate published before
the node counts the demo's subscriber is lost to the demo and to the bag. It then prints, per
object of the last estimated frame (or every frame with ``--all-frames``), the estimated and
true position and size with the rotation error (angle between y axes for y-symmetric objects),
translation error and size error, a summary over all estimated frames (means, fraction within
10°/5 cm...) and the achieved rates (estimates per second, latency from the frame's stamp to the
estimate's arrival). It writes ``<out>/debug_image.png`` (the node's last ``~/debug_image``),
``<out>/comparison.png`` (the same with the ground truth boxes in white) and
``<out>/estimates.json`` (every estimate and ground truth per stamp, the errors and the rates).

``--record BAG`` also records the node's inputs, the ground truth and the estimates into a
rosbag2 (``rosbags`` library); ``--replay BAG`` replaces the camera by that bag, published at its
recorded timing, and compares the new estimates with the recorded ones frame by frame.

Every process of the demo uses ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` and one
``ROS_DOMAIN_ID`` (``--domain-id``, default random in 100..199), so nothing leaves this machine
and concurrent demos do not see each other. The processes are started directly, not with
``ros2 launch`` (launch_ros and the ros2 command are not on PyPI; direct processes also let the
demo report each one's exit status and log), and always stopped on exit: SIGINT, a wait, then
SIGKILL (also when the demo is interrupted or terminated).

The node runs with its defaults except reliable inputs (``qos_overrides``; the camera and the bag
player publish reliably, so a frame is never lost to a busy CPU) and whatever ``--node-param``
sets. Unless already set, the processes get a Fast DDS profile with a 50 ms heartbeat for reliable
writers (see :func:`.processes.ros_environment`), and the node sets ``OMP_WAIT_POLICY=PASSIVE``
itself (:mod:`.cpu_threads`): both cut the latency of 640x480 frames on a loaded CPU from seconds
to a fraction of a second.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.estimates import RefineMode
from ..ros.diagnostics import OBJECTS_SUBSCRIBERS, node_status, subscriber_count
from ..ros.parameters import reliable_input_overrides
from .processes import (ChildProcess, ProcessError, configure_this_process, executable_command, pick_domain_id,
                        ros_args, stop_all, TerminateAsInterrupt)

__all__ = ["DemoError", "configure_parser", "run"]

NODE_EXECUTABLE = ("dualposenet_node", "dualposenet_ros.ros.node")
CAMERA_EXECUTABLE = ("synthetic_camera", "dualposenet_ros.ros_tools.synthetic_camera")
NODE_NAME = "dualposenet"
OBJECTS_TOPIC = "/dualposenet/objects"
DEBUG_IMAGE_TOPIC = "/dualposenet/debug_image"
GROUND_TRUTH_TOPIC = "/synthetic_camera/ground_truth"


class DemoError(ProcessError):
    """The demo cannot go on; the message says why (and what to do)."""


def node_parameters(args: argparse.Namespace) -> dict[str, Any]:
    # Reliable inputs: the synthetic camera and the bag player publish reliably, so a frame whose
    # fragments a busy CPU dropped is resent instead of lost (a best-effort reader loses it).
    parameters: dict[str, Any] = {"device": args.device, "refine.mode": args.refine, **reliable_input_overrides(),
                                  "segmentation_format": args.segmentation_format,
                                  "tracking.smoothing": float(args.smoothing)}
    if args.checkpoint:
        parameters["checkpoint"] = str(Path(args.checkpoint).expanduser().resolve())
    for item in args.node_param or ():
        name, sep, value = item.partition(":=")
        if not sep:
            raise DemoError(f"--node-param {item!r}: expected NAME:=VALUE")
        parameters[name] = value
    return parameters


def check_checkpoint(checkpoint: str | None) -> None:
    """Fail early, with the fix, when the model files are not there."""
    from ..model.checkpoint import checkpoint_files

    if checkpoint:
        weights, config = checkpoint_files(Path(checkpoint).expanduser())
        missing = [str(p) for p in (weights, config) if not p.is_file()]
        if missing:
            raise DemoError(f"checkpoint {checkpoint!r} not found: missing {' and '.join(missing)}")
        return
    from ..models import default_checkpoint

    weights, config = checkpoint_files(default_checkpoint())
    if not (weights.is_file() and config.is_file()):
        raise DemoError(f"the shipped model ({default_checkpoint()}.safetensors) is not there: pass --checkpoint PATH "
                        "(a checkpoint made by `dualposenet train`)")


# -- collection ---------------------------------------------------------------------------------


def stamp_ns(stamp: Any) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


@dataclass
class Collected:
    """What the demo received, by header stamp (ns)."""

    estimates: dict[int, list[Any]] = field(default_factory=dict)  # PoseRecords
    estimate_arrival: dict[int, float] = field(default_factory=dict)  # time.time()
    truth: dict[int, list[Any]] = field(default_factory=dict)
    truth_arrival: dict[int, float] = field(default_factory=dict)
    debug_image: Any = None  # last Image message
    intrinsics: Any = None  # of the camera (for drawing the ground truth)
    published_at: dict[int, float] | None = None  # replay: stamp -> wall time it was published
    objects_subscribers: str | None = None  # the node's last report of its matched ~/objects subscribers

    def latency(self, stamp: int) -> float:
        """Seconds from the frame's capture (its stamp; in replay, its publication) to the estimate."""
        origin = stamp * 1e-9
        if self.published_at is not None:
            origin = self.published_at.get(stamp, origin)
        return self.estimate_arrival[stamp] - origin


def _make_listener(context: Any, collected: Collected, record: Path | None) -> tuple[Any, Any]:
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import QoSProfile
    from sensor_msgs.msg import Image

    from dualposenet_ros.msg import ObjectPoseArray

    from .synthetic_camera import pose_records

    node = rclpy.create_node("dualposenet_demo", context=context)

    def on_objects(msg: Any) -> None:
        stamp = stamp_ns(msg.header.stamp)
        collected.estimate_arrival.setdefault(stamp, time.time())
        collected.estimates[stamp] = pose_records(msg)

    def on_truth(msg: Any) -> None:
        stamp = stamp_ns(msg.header.stamp)
        collected.truth_arrival.setdefault(stamp, time.time())
        collected.truth[stamp] = pose_records(msg)

    def on_debug(msg: Any) -> None:
        collected.debug_image = msg

    def on_diagnostics(msg: Any) -> None:
        status = node_status(msg, "/" + NODE_NAME)
        if status is not None and OBJECTS_SUBSCRIBERS in status:
            collected.objects_subscribers = status[OBJECTS_SUBSCRIBERS]

    reliable = QoSProfile(depth=100)
    node.create_subscription(ObjectPoseArray, OBJECTS_TOPIC, on_objects, reliable)
    node.create_subscription(ObjectPoseArray, GROUND_TRUTH_TOPIC, on_truth, reliable)
    node.create_subscription(Image, DEBUG_IMAGE_TOPIC, on_debug, QoSProfile(depth=2))
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, QoSProfile(depth=10))
    recorder = None
    if record is not None:
        from .bag import GROUND_TRUTH_TOPIC as GT, INPUT_TOPICS, OBJECTS_TOPIC as OBJ, BagRecorder

        recorder = BagRecorder(node, record, [*INPUT_TOPICS, GT, OBJ])
    return node, recorder


def _node_subscribed(listener: Any, topics: Sequence[str], node_name: str = NODE_NAME) -> bool:
    """Whether a node named ``node_name`` subscribes to each of ``topics``."""
    return all(any(info.node_name == node_name for info in listener.get_subscriptions_info_by_topic(topic))
               for topic in topics)


# -- the run ------------------------------------------------------------------------------------


@dataclass
class Outcome:
    collected: Collected
    published_frames: int
    elapsed: float


def _spin(executor: Any, seconds: float) -> None:
    executor.spin_once(timeout_sec=seconds)


def _wait_for_node_ready(listener: Any, executor: Any, node: ChildProcess, collected: Collected, subscribers: int,
                         timeout: float) -> None:
    """Spin until the node subscribes to its inputs and reports that its ``~/objects`` publisher
    reaches the demo's ``subscribers`` subscriptions.

    Seeing the node's subscriptions (or matching its publisher from this side) is not enough:
    discovery runs per pair of processes, and the node can learn of the demo's subscribers
    seconds after the demo learnt of the node. Estimates published in between are lost to the
    demo (and to the bag), so the source starts only once the node's own count includes them."""
    from .bag import INPUT_TOPICS

    topics = [topic for topic, _ in INPUT_TOPICS]
    deadline = time.monotonic() + timeout

    def reached() -> bool:
        return (subscriber_count(collected.objects_subscribers) or 0) >= subscribers

    while not (_node_subscribed(listener, topics) and reached()):
        if not node.running:
            raise DemoError(f"the dualposenet node exited with status {node.returncode} before it was ready; its log "
                            f"({node.log_path}):\n{node.log_tail()}")
        if collected.objects_subscribers == "off":
            raise DemoError(f"the dualposenet node does not publish {OBJECTS_TOPIC} (publish.objects is false): the "
                            "demo has no estimate to show")
        if time.monotonic() > deadline:
            state = ("it did not subscribe to its inputs" if not _node_subscribed(listener, topics) else
                     f"its /diagnostics status reported '{OBJECTS_SUBSCRIBERS}' {collected.objects_subscribers}, "
                     f"not the demo's {subscribers} (is publish.diagnostics off?)")
            raise DemoError(f"the dualposenet node was not ready within {timeout:g} s: {state}; its log "
                            f"({node.log_path}):\n{node.log_tail()}")
        _spin(executor, 0.1)


def _collect(args: argparse.Namespace, listener: Any, executor: Any, node: ChildProcess,
             source_done: Any, source_error: Any, collected: Collected, started: float) -> Outcome:
    """Spin until the estimate of the last frame arrived (or a timeout); returns what came."""
    finished_at = None
    while True:
        _spin(executor, 0.05)
        error = source_error()
        if error:
            raise DemoError(error)
        if not node.running:
            raise DemoError(f"the dualposenet node exited with status {node.returncode} while the demo ran; its log "
                            f"({node.log_path}):\n{node.log_tail()}")
        now = time.monotonic()
        if finished_at is None and source_done():
            finished_at = now
        if finished_at is None:
            if not collected.estimates and now - started > args.timeout + args.frames / args.rate:
                break  # nothing at all: reported below
            continue
        last = max(collected.truth) if collected.truth else None
        if last is not None and last in collected.estimates:
            break
        latencies = [collected.latency(s) for s in collected.estimates]
        grace = max(10.0, 3.0 * max(latencies)) if latencies else args.timeout
        if now - finished_at > grace:
            break
    # A moment for the last debug image (published right after the objects).
    until = time.monotonic() + 0.5
    while time.monotonic() < until:
        _spin(executor, 0.05)
    return Outcome(collected, len(collected.truth), time.monotonic() - started)


def _records_diff(a: Sequence[Any], b: Sequence[Any]) -> tuple[float, float, float]:
    """Largest translation (m), rotation (deg) and size (m) difference between two estimate lists
    of the same objects (matched by instance id); inf when the objects differ. Objects symmetric
    about y are compared by their y axes (the tracker picks their unobservable angle)."""
    import numpy as np

    from ..evaluation.scoring import object_error

    by_id = {r.instance_id: r for r in b}
    if sorted(by_id) != sorted(r.instance_id for r in a):
        return float("inf"), float("inf"), float("inf")
    t = r = s = 0.0
    for record in a:
        other = by_id[record.instance_id]
        difference = object_error(record, other)
        t, r = max(t, difference.translation_m), max(r, difference.rotation_deg)
        s = max(s, float(np.max(np.abs(record.size - other.size))))  # largest extent, not object_error's mean
    return t, r, s


def _recorded_estimates(bag_path: Path) -> dict[int, list[Any]]:
    from .bag import OBJECTS_TOPIC as OBJ, deserialize, read_messages
    from .synthetic_camera import pose_records

    return {stamp_ns(msg.header.stamp): pose_records(msg)
            for msg in (deserialize(m) for m in read_messages(bag_path, [OBJ[0]]))}


def _bag_intrinsics(bag_path: Path) -> Any:
    from ..core.camera import Intrinsics
    from .bag import deserialize, read_messages

    for message in read_messages(bag_path, ["/color/camera_info"]):
        return Intrinsics.from_matrix(deserialize(message).k)
    return None


def _report(args: argparse.Namespace, outcome: Outcome, out: Path) -> dict[str, Any]:
    import numpy as np

    from ..evaluation import scoring
    from ..evaluation.tracking import identity_switches

    collected = outcome.collected
    stamps = sorted(s for s in collected.estimates if s in collected.truth)
    matching = scoring.Matching()
    frames = []
    tables = []
    for stamp in stamps:
        frame_matching = scoring.match(collected.estimates[stamp], collected.truth[stamp])
        matching.extend(frame_matching)
        frames.append({
            "stamp_ns": stamp, "latency_s": collected.latency(stamp),
            "estimates": [r.to_dict() for r in collected.estimates[stamp]],
            "ground_truth": [r.to_dict() for r in collected.truth[stamp]],
            "errors": [e.to_dict() for e in frame_matching.errors],
        })
        tables.append((stamp, frame_matching))
    shown = tables if args.all_frames else tables[-1:]
    for stamp, frame_matching in shown:
        print(scoring.format_errors(frame_matching, title=f"\nFrame stamped {stamp * 1e-9:.3f} "
                                    f"(latency {collected.latency(stamp) * 1e3:.0f} ms):"))
    summary = scoring.summarize(matching)
    print(f"\nSummary over {len(stamps)} estimated frames:")
    print(scoring.format_summary(summary))
    switches, followed = identity_switches([frame_matching for _, frame_matching in tables])
    print(f"identities: {followed} objects followed, {switches} identity switches (track id changes of the estimate "
          "matched to each true object)")

    arrivals = sorted(collected.estimate_arrival.values())
    inputs = sorted(collected.truth_arrival.values())
    latencies = [collected.latency(s) for s in collected.estimates]
    rates = {
        "frames_published": outcome.published_frames,
        "frames_estimated": len(collected.estimates),
        "input_fps": ((len(inputs) - 1) / (inputs[-1] - inputs[0])
                      if len(inputs) > 1 and inputs[-1] > inputs[0] else None),
        "estimates_per_second": ((len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
                                 if len(arrivals) > 1 and arrivals[-1] > arrivals[0] else None),
        "latency_mean_s": float(np.mean(latencies)) if latencies else None,
        "latency_median_s": float(np.median(latencies)) if latencies else None,
        "latency_max_s": float(np.max(latencies)) if latencies else None,
    }
    fmt = (lambda v, unit="", scale=1.0, digits=2: "n/a" if v is None else f"{v * scale:.{digits}f}{unit}")
    origin = "its publication from the bag" if args.replay else "the frame's stamp"
    print(f"\nRate: {rates['frames_estimated']} of {rates['frames_published']} frames estimated; camera "
          f"{fmt(rates['input_fps'], ' fps')}, estimates {fmt(rates['estimates_per_second'], ' per second')}; "
          f"latency from {origin} to the estimate: mean {fmt(rates['latency_mean_s'], ' ms', 1e3, 0)}, median "
          f"{fmt(rates['latency_median_s'], ' ms', 1e3, 0)}, max {fmt(rates['latency_max_s'], ' ms', 1e3, 0)}")
    if rates["frames_estimated"] < rates["frames_published"]:
        print("  (the node estimates the newest frame and drops frames that arrive while it is busy)")

    report: dict[str, Any] = {
        "settings": {"checkpoint": args.checkpoint, "device": args.device, "refine": args.refine, "rate": args.rate,
                     "frames": args.frames, "seed": args.seed, "width": args.width, "height": args.height,
                     "segmentation_format": args.segmentation_format, "smoothing": args.smoothing,
                     "replay": str(args.replay) if args.replay else None,
                     "record": str(args.record) if args.record else None},
        "summary": summary.to_dict(), "rates": rates, "frames": frames,
        "identities": {"objects": followed, "switches": switches},
    }
    if args.replay:
        recorded = _recorded_estimates(Path(args.replay))
        common = sorted(set(recorded) & set(collected.estimates))
        diffs = [_records_diff(collected.estimates[s], recorded[s]) for s in common]
        worst = tuple(max((d[i] for d in diffs), default=0.0) for i in range(3))
        report["replay_vs_recorded"] = {"common_frames": len(common), "max_translation_m": worst[0],
                                        "max_rotation_deg": worst[1], "max_size_m": worst[2]}
        if recorded:
            print(f"Replay against the estimates recorded in the bag: {len(common)} common frames, largest difference "
                  f"{worst[0] * 1e3:.3g} mm, {worst[1]:.3g}°, size {worst[2] * 1e3:.3g} mm")
    _write_images(collected, out)
    (out / "estimates.json").write_text(json.dumps(report, indent=1))
    return report


def _write_images(collected: Collected, out: Path) -> None:
    import cv2

    from ..inference.visualize import draw_estimates
    from ..ros.conversions import color_from_image

    if collected.debug_image is None:
        print("No debug image arrived (publish.debug_image false?): no PNG written")
        return
    rgb = color_from_image(collected.debug_image)
    path = out / "debug_image.png"
    cv2.imwrite(str(path), rgb[..., ::-1])
    written = [path]
    stamp = stamp_ns(collected.debug_image.header.stamp)
    if collected.intrinsics is not None and stamp in collected.truth:
        picture = draw_estimates(rgb, collected.truth[stamp], collected.intrinsics, color=(255, 255, 255),
                                 labels=False)
        cv2.imwrite(str(out / "comparison.png"), picture[..., ::-1])
        written.append(out / "comparison.png")
    print(f"Wrote {', '.join(map(str, written))} (estimates in category colours"
          f"{', ground truth in white' if len(written) > 1 else ''})")


def run(args: argparse.Namespace) -> int:
    try:
        with TerminateAsInterrupt():
            return _run(args)
    except ProcessError as error:  # DemoError included
        print(f"dualposenet demo: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dualposenet demo: interrupted", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    if args.record and args.replay:
        raise DemoError("--record and --replay cannot be combined")
    if (args.record or args.replay) and args.segmentation_format != "instance_segmentation":
        raise DemoError("--record and --replay carry the InstanceSegmentation input only: leave --segmentation-format "
                        "at instance_segmentation")
    if args.frames < 1 or not args.rate > 0:
        raise DemoError("--frames must be >= 1 and --rate > 0")
    check_checkpoint(args.checkpoint)
    replay = Path(args.replay) if args.replay else None
    if replay is not None:
        from .bag import INPUT_TOPICS, BagError, bag_topics

        try:
            topics = bag_topics(replay)
        except BagError as error:
            raise DemoError(str(error)) from None
        missing = [topic for topic, _ in INPUT_TOPICS if topic not in topics]
        if missing:
            raise DemoError(f"{replay} has no {', '.join(missing)}: record it with `dualposenet demo --record`")
    record = Path(args.record) if args.record else None
    if record is not None and record.exists():
        raise DemoError(f"{record} already exists: choose a new directory for the bag")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    domain = pick_domain_id(args.domain_id)
    env = configure_this_process(domain)  # this process too, before rclpy starts
    try:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
    except ImportError as error:
        raise DemoError(f"rclpy is not available ({error}): run tools/setup.sh and source tools/env.sh") from None

    source = "bag " + str(replay) if replay else (f"synthetic camera ({args.width}x{args.height}, {args.rate:g} Hz, "
                                                  f"seed {args.seed}, {args.segmentation_format})")
    print(f"dualposenet demo: ROS_DOMAIN_ID={domain} (localhost only), {args.frames if not replay else 'all'} frames "
          f"from the {source}; model {args.checkpoint or 'shipped'} on {args.device}, refine {args.refine}; "
          f"logs and results in {out}/")
    context = rclpy.context.Context()
    rclpy.init(context=context, domain_id=domain)
    children: list[ChildProcess] = []
    listener = recorder = player = None
    executor = SingleThreadedExecutor(context=context)
    try:
        collected = Collected()
        listener, recorder = _make_listener(context, collected, record)
        executor.add_node(listener)
        node = ChildProcess("dualposenet_node",
                            [*executable_command(*NODE_EXECUTABLE), *ros_args(node_parameters(args))],
                            env, out / "dualposenet_node.log").start()
        children.append(node)
        _wait_for_node_ready(listener, executor, node, collected, 2 if recorder is not None else 1,
                             args.startup_timeout)
        if replay is None:
            from .synthetic_camera import camera_intrinsics

            collected.intrinsics = camera_intrinsics(args.width, args.height)
            camera_parameters = {"seed": args.seed, "rate": float(args.rate), "width": args.width,
                                 "height": args.height, "frames": args.frames,
                                 "segmentation_format": args.segmentation_format,
                                 # Render ahead before the first frame, so frames go out on time.
                                 "queue_size": 10, "preroll": min(args.frames, 10),
                                 # The node and, when recording, the recorder on every topic.
                                 "wait_for_subscribers": 2 if record is not None else 1}
            camera = ChildProcess("synthetic_camera", [*executable_command(*CAMERA_EXECUTABLE),
                                                       *ros_args(camera_parameters)], env,
                                  out / "synthetic_camera.log").start()
            children.append(camera)
            print("node ready; the camera starts", flush=True)

            def source_done() -> bool:
                return camera.returncode is not None

            def source_error() -> str | None:
                code = camera.returncode
                if code not in (None, 0):
                    return (f"the synthetic camera exited with status {code}; its log ({camera.log_path}):\n"
                            f"{camera.log_tail()}")
                return None
        else:
            from .bag import OBJECTS_TOPIC as OBJ, BagPlayer

            player = BagPlayer(listener, replay, exclude=[OBJ[0], DEBUG_IMAGE_TOPIC])
            collected.intrinsics = _bag_intrinsics(replay)
            deadline = time.monotonic() + 10.0
            while not player.subscribed() and time.monotonic() < deadline:  # discovery of every reader
                _spin(executor, 0.05)
            collected.published_at = player.result.stamps.get("/color/image", {})
            print("node ready; replaying", replay, flush=True)
            player.start()

            def source_done() -> bool:
                return player.finished

            def source_error() -> str | None:
                return None if player.error is None else f"replaying {replay} failed: {player.error!r}"

        started = time.monotonic()
        outcome = _collect(args, listener, executor, node, source_done, source_error, collected, started)
    finally:
        if player is not None:
            player.stop()
        stop_all(children)
        if recorder is not None:
            recorder.close()
        executor.shutdown()
        if listener is not None:
            listener.destroy_node()
        if context.ok():
            rclpy.shutdown(context=context)

    if not outcome.collected.estimates:
        raise DemoError(
            f"the dualposenet node published no estimate on {OBJECTS_TOPIC} ({len(outcome.collected.truth)} frames "
            f"sent in {outcome.elapsed:.0f} s); its log ({node.log_path}):\n{node.log_tail()}")
    _report(args, outcome, out)
    if recorder is not None:
        counts = ", ".join(f"{topic} {count}" for topic, count in recorder.counts.items())
        print(f"Recorded {record}: {counts}")
    return 0


def configure_parser(parser: argparse.ArgumentParser) -> None:
    from ..ros.segmentation_inputs import FORMATS

    parser.epilog = __doc__.split("\n\n")[1]
    parser.add_argument("--checkpoint", help="model checkpoint (path stem, .safetensors or directory); "
                        "default: the shipped model")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    parser.add_argument("--refine", choices=RefineMode.values(), default="none",
                        help="test-time refinement mode of the node")
    parser.add_argument("--segmentation-format", default="instance_segmentation",
                        choices=FORMATS,
                        help="what the camera publishes and the node reads: InstanceSegmentation, vision_msgs "
                        "Detection2DArray + one mask per detection, or yolo_msgs DetectionArray (polygons)")
    parser.add_argument("--smoothing", type=float, default=0.0, help="the node's tracking.smoothing (default 0)")
    parser.add_argument("--rate", type=float, default=5.0, help="camera frame rate, Hz (default 5)")
    parser.add_argument("--frames", type=int, default=20, help="frames the camera publishes (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic scenes")
    parser.add_argument("--width", type=int, default=640, help="image width (default 640)")
    parser.add_argument("--height", type=int, default=480, help="image height (default 480)")
    parser.add_argument("--out", type=Path, default=Path("demo_output"),
                        help="directory for the PNGs, estimates.json and the logs (default demo_output/)")
    parser.add_argument("--record", type=Path, metavar="BAG_DIR",
                        help="also record the inputs, ground truth and estimates into this new rosbag2 directory")
    parser.add_argument("--replay", type=Path, metavar="BAG_DIR",
                        help="feed this bag (made with --record) to the node instead of the synthetic camera")
    parser.add_argument("--domain-id", type=int, help="ROS_DOMAIN_ID of every demo process (default: random 100..199)")
    parser.add_argument("--startup-timeout", type=float, default=120.0,
                        help="seconds to wait for the node to load its model and subscribe (default 120)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds to wait, once every frame is sent, for an estimate when none came (default 60)")
    parser.add_argument("--all-frames", action="store_true", help="print the table of every estimated frame")
    parser.add_argument("--node-param", action="append", metavar="NAME:=VALUE",
                        help="extra parameter of the node (repeatable), e.g. refine.time_budget:=1.0")
