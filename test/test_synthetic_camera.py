"""The synthetic camera: its messages, and camera -> node -> subscriber over real DDS in separate
processes.

:func:`run_camera_and_node` and :func:`check_live_accuracy` are meant to be reused: a test of the
shipped model calls ``check_live_accuracy(ros_env, rclpy_context, checkpoint=None, ...)`` with its
thresholds (see :func:`dualposenet_ros.evaluation.scoring.check_accuracy`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ros_node_support import small_synthetic_frame
from ros_support import require_rclpy, spin_for, spin_until, start_python, stop

FRAME_ID = "camera_color_optical_frame"
INPUT_TOPICS = {"color": "/color/image", "depth": "/depth/image", "camera_info": "/color/camera_info",
                "segmentation": "/segmentation"}


def _stamp(msg: Any) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


# -- messages (no DDS) --------------------------------------------------------------------------


class _FakeFrame:
    def __init__(self, mask, ids):
        self.instance_mask = mask
        self.instances = [type("GT", (), {"instance_id": i})() for i in ids]


def test_labels_number_the_annotated_instances_in_order():
    require_rclpy()  # the camera module is a ROS node
    from dualposenet_ros.ros_tools.synthetic_camera import label_image

    mask = np.array([[0, 2, 2], [5, 5, 0], [3, 0, 2]], dtype=np.int32)  # 3: unannotated clutter
    labels = label_image(_FakeFrame(mask, [2, 5]))
    assert labels.dtype == np.uint16
    np.testing.assert_array_equal(labels, [[0, 1, 1], [2, 2, 0], [0, 0, 1]])


def test_intrinsics_scale_with_the_image():
    require_rclpy()  # the camera module is a ROS node
    from dualposenet_ros.ros_tools.synthetic_camera import camera_intrinsics

    full, half = camera_intrinsics(640, 480), camera_intrinsics(320, 240)
    assert tuple(full) == (577.5, 577.5, 319.5, 239.5)
    assert half.fx == pytest.approx(288.75) and half.cx == pytest.approx(159.5) and half.cy == pytest.approx(119.5)


def test_frame_messages_share_one_header_and_carry_the_ground_truth():
    require_rclpy()
    from builtin_interfaces.msg import Time

    from dualposenet_ros.ros import conversions
    from dualposenet_ros.ros.segmentation_inputs import InstanceReader
    from dualposenet_ros.evaluation.scoring import PoseRecord, match
    from dualposenet_ros.ros_tools.synthetic_camera import frame_messages, pose_records

    frame = small_synthetic_frame()
    assert len(frame.instances) >= 2
    stamp = Time(sec=12, nanosec=345)
    messages = frame_messages(frame, stamp)
    headers = [messages.color.header, messages.depth.header, messages.camera_info.header,
               messages.segmentation.header, messages.segmentation.labels.header, messages.ground_truth.header]
    assert all(h.stamp == stamp and h.frame_id == FRAME_ID for h in headers)
    assert (messages.color.encoding, messages.depth.encoding, messages.segmentation.labels.encoding) == (
        "rgb8", "16UC1", "mono16")
    # What the node will read back: the same image, depth (mm -> m) and instances.
    converted = conversions.frame_from_messages(
        *messages[:4], read_instances=InstanceReader("instance_segmentation").read)
    np.testing.assert_array_equal(converted.frame.rgb, frame.rgb)
    np.testing.assert_allclose(converted.frame.depth, frame.depth_mm * 0.001, rtol=1e-6)
    assert converted.frame.intrinsics == pytest.approx(tuple(frame.intrinsics))
    assert [(i.instance_id, i.class_id) for i in converted.frame.instances] == [
        (k, gt.class_id) for k, gt in enumerate(frame.instances, start=1)]
    for instance, truth in zip(converted.frame.instances, frame.instances):
        np.testing.assert_array_equal(instance.mask, frame.instance_mask == truth.instance_id)
    assert list(messages.segmentation.scores) == [1.0] * len(frame.instances)
    # Ground truth: instance id = label value, exact pose and size, symmetry flag in `refined`.
    truths = pose_records(messages.ground_truth)
    expected = [PoseRecord.from_instance_gt(gt, k) for k, gt in enumerate(frame.instances, start=1)]
    matching = match(truths, expected)
    assert not matching.missed and not matching.extra
    for error in matching.errors:
        assert error.rotation_deg < 1e-3 and error.translation_m < 1e-6 and error.size_m < 1e-6
        assert error.estimate.symmetric == error.truth.symmetric
    assert all(obj.num_points > 0 for obj in messages.ground_truth.objects)


def test_the_stream_is_reproducible_and_moves():
    require_rclpy()  # the camera module is a ROS node
    from dualposenet_ros.ros_tools.synthetic_camera import FrameRenderer

    def first_two(seed):
        renderer = FrameRenderer(seed=seed, width=96, height=72, dt=0.5, frames=2)
        return [frame for _, frame, _ in renderer.frames_iter()]

    a, b = first_two(4), first_two(4)
    assert len(a) == 2
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.rgb, y.rgb)
        np.testing.assert_array_equal(x.depth_mm, y.depth_mm)
    moved = [np.abs(t0.rotation - t1.rotation).max() + np.abs(t0.translation - t1.translation).max()
             for t0 in a[0].instances for t1 in a[1].instances if t0.instance_id == t1.instance_id]
    assert moved and max(moved) > 1e-3  # objects spin and the camera orbits between frames


# -- over DDS -----------------------------------------------------------------------------------


@dataclass
class LiveRun:
    """What a subscriber saw of the camera and the node, by header stamp (ns)."""

    inputs: dict[int, dict[str, tuple[str, str]]] = field(default_factory=dict)  # role -> (frame_id, encoding)
    truth: dict[int, Any] = field(default_factory=dict)  # ObjectPoseArray
    objects: dict[int, Any] = field(default_factory=dict)  # ObjectPoseArray
    transforms: dict[int, list[tuple[str, str]]] = field(default_factory=dict)  # (parent, child)
    tf_topic: str = ""
    outputs: dict[str, str] = field(default_factory=dict)

    def estimated(self) -> list[int]:
        return sorted(s for s in self.objects if s in self.truth)

    def complete(self, stamp: int) -> bool:
        """The frame's estimate came with its TF, or has no OK object (nothing goes to TF)."""
        return stamp in self.transforms or not any(o.status == 0 for o in self.objects[stamp].objects)


def _tf_subscription(node: Any, run: LiveRun) -> None:
    from rclpy.qos import QoSProfile

    def on_transform(msg: Any) -> None:
        run.transforms.setdefault(_stamp(msg), []).append((msg.header.frame_id, msg.child_frame_id))

    from tf2_msgs.msg import TFMessage  # tools/setup.sh builds it where no ROS installation has it

    run.tf_topic = "/tf"
    node.create_subscription(TFMessage, run.tf_topic, lambda msg: [on_transform(t) for t in msg.transforms],
                             QoSProfile(depth=100))


def run_camera_and_node(ros_env: dict[str, str], rclpy_context: Any, checkpoint: str | Path | None, *,
                        min_frames: int = 2, width: int = 320, height: int = 240, rate: float = 4.0, seed: int = 0,
                        timeout: float = 60.0, node_parameters: dict[str, Any] | None = None,
                        watch_inputs: bool = True) -> LiveRun:
    """Start the synthetic camera and the dualposenet node as two processes, listen until the node
    estimated ``min_frames`` frames (with their TF), stop both and return what was seen."""
    rclpy = require_rclpy()
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile
    from sensor_msgs.msg import CameraInfo, Image

    from dualposenet_ros.msg import InstanceSegmentation, ObjectPoseArray
    from dualposenet_ros.ros_tools.processes import ros_args

    run = LiveRun()
    node = rclpy.create_node("synthetic_camera_test_listener", context=rclpy_context)
    if watch_inputs:
        def on_input(role: str):
            def callback(msg: Any) -> None:
                header = msg.header
                encoding = getattr(msg, "encoding", None) or getattr(getattr(msg, "labels", None), "encoding", "")
                run.inputs.setdefault(_stamp(msg), {})[role] = (header.frame_id, encoding)
            return callback

        for role, msg_type in (("color", Image), ("depth", Image), ("camera_info", CameraInfo),
                               ("segmentation", InstanceSegmentation)):
            node.create_subscription(msg_type, INPUT_TOPICS[role], on_input(role), QoSProfile(depth=10))
    node.create_subscription(ObjectPoseArray, "/synthetic_camera/ground_truth",
                             lambda msg: run.truth.__setitem__(_stamp(msg), msg), QoSProfile(depth=50))
    node.create_subscription(ObjectPoseArray, "/dualposenet/objects",
                             lambda msg: run.objects.__setitem__(_stamp(msg), msg), QoSProfile(depth=50))
    _tf_subscription(node, run)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)

    parameters = {"device": "cpu", **(node_parameters or {})}
    if checkpoint is not None:
        parameters["checkpoint"] = str(checkpoint)
    processes = {
        "node": start_python(["-c", "import sys; from dualposenet_ros.ros.node import main; sys.exit(main())",
                              *ros_args(parameters)], ros_env),
        "camera": start_python(["-m", "dualposenet_ros.ros_tools.synthetic_camera", *ros_args(
            {"width": width, "height": height, "rate": float(rate), "seed": seed, "wait_for_subscribers": 1})],
            ros_env),
    }

    def done() -> bool:
        return sum(run.complete(s) for s in run.estimated()) >= min_frames

    try:
        spin_until(None, executor, lambda: done() or any(p.poll() is not None for p in processes.values()), timeout)
        spin_for(executor, 0.3)  # the transforms of the last estimate
    finally:
        run.outputs = {name: stop(process) for name, process in processes.items()}
        executor.shutdown()
        node.destroy_node()
    return run


def live_matching(run: LiveRun) -> Any:
    """Estimates against ground truth over every estimated frame of a :class:`LiveRun`."""
    from dualposenet_ros.evaluation import scoring
    from dualposenet_ros.ros_tools.synthetic_camera import pose_records

    matching = scoring.Matching()
    for stamp in run.estimated():
        matching.extend(scoring.match(pose_records(run.objects[stamp]), pose_records(run.truth[stamp])))
    return matching


def check_live_accuracy(ros_env: dict[str, str], rclpy_context: Any, checkpoint: str | Path | None = None, *,
                        frames: int = 6, width: int = 640, height: int = 480, rate: float = 1.0, seed: int = 0,
                        timeout: float = 180.0, **thresholds: Any) -> Any:
    """Run camera -> node (``checkpoint``; None = the shipped model) over DDS and check the accuracy
    of the estimates of ``frames`` frames with :func:`dualposenet_ros.evaluation.scoring.check_accuracy`
    (``thresholds``: its keyword arguments). Returns the summary; raises AccuracyError."""
    from dualposenet_ros.evaluation import scoring

    run = run_camera_and_node(ros_env, rclpy_context, checkpoint, min_frames=frames, width=width, height=height,
                              rate=rate, seed=seed, timeout=timeout, watch_inputs=False)
    assert len(run.estimated()) >= frames, f"only {len(run.estimated())} frames estimated:\n{run.outputs}"
    return scoring.check_accuracy(scoring.summarize(live_matching(run)), **thresholds)


@pytest.mark.timeout(120)
def test_camera_to_node_to_subscriber_over_dds(tmp_path: Path, ros_env, rclpy_context):
    require_rclpy()
    from ros_node_support import write_tiny_checkpoint

    from dualposenet_ros.evaluation import scoring

    checkpoint = write_tiny_checkpoint(tmp_path / "tiny")
    run = run_camera_and_node(ros_env, rclpy_context, checkpoint, min_frames=2)
    report = "\n".join(f"--- {name}:\n{text}" for name, text in run.outputs.items())
    estimated = run.estimated()
    assert len(estimated) >= 2, f"node estimated {len(estimated)} frames\n{report}"

    # Every input of a frame carries the same stamp and frame, with the documented encodings.
    complete = [s for s in run.inputs if len(run.inputs[s]) == 4]
    assert complete, report
    for stamp in complete:
        roles = run.inputs[stamp]
        assert {frame_id for frame_id, _ in roles.values()} == {FRAME_ID}
        assert (roles["color"][1], roles["depth"][1], roles["segmentation"][1]) == ("rgb8", "16UC1", "mono16")
    assert set(run.truth) & set(complete)  # the ground truth carries the stamp of its frame

    for stamp in estimated:
        objects, truth = run.objects[stamp], run.truth[stamp]
        assert objects.header.frame_id == FRAME_ID
        assert [(o.instance_id, o.class_id, o.category) for o in objects.objects] == [
            (t.instance_id, t.class_id, t.category) for t in truth.objects]
        ok = {f"dualposenet/{o.category}_{o.track_id}" for o in objects.objects if o.status == 0}
        assert all(o.track_id > 0 for o in objects.objects if o.status == 0)
        if ok and stamp in run.transforms:  # TF frames <prefix><category>_<track id> under the optical frame
            assert set(run.transforms[stamp]) == {(FRAME_ID, child) for child in ok}, run.tf_topic
    # The run lasts until two frames came complete: with their TF, or with no OK object to send to TF
    # (the rule of run_camera_and_node; a last frame may be stopped before its TF).
    assert sum(run.complete(stamp) for stamp in estimated) >= 2

    matching = live_matching(run)
    assert not matching.missed and not matching.extra
    summary = scoring.summarize(matching)  # random weights: only that the numbers exist
    assert summary.matched == sum(len(run.truth[s].objects) for s in estimated)
    assert all(np.isfinite([e.rotation_deg, e.translation_m, e.size_m]).all() for e in matching.errors if e.ok)
    # Both processes end cleanly on SIGINT.
    assert "Traceback" not in report, report


def test_ground_truth_track_ids_are_the_objects_and_differ_between_scenes():
    require_rclpy()
    from builtin_interfaces.msg import Time

    from dualposenet_ros.ros_tools.synthetic_camera import SCENE_TRACKS, frame_messages

    frame = small_synthetic_frame()
    first = frame_messages(frame, Time(sec=1)).ground_truth.objects
    later = frame_messages(frame, Time(sec=2), scene=2).ground_truth.objects
    assert [o.track_id for o in first] == [int(gt.instance_id) for gt in frame.instances]
    assert [o.track_id for o in later] == [2 * SCENE_TRACKS + int(gt.instance_id) for gt in frame.instances]


@pytest.mark.timeout(120)
def test_invalid_camera_parameters_stop_it_with_a_message_naming_them(ros_env):
    require_rclpy()
    import subprocess
    import sys

    from dualposenet_ros.ros_tools.processes import ros_args

    result = subprocess.run([sys.executable, "-m", "dualposenet_ros.ros_tools.synthetic_camera", *ros_args(
        {"segmentation_format": "coco_json", "detection_masks": "stacked", "rate": 0.0})],
        env=ros_env, capture_output=True, text=True, timeout=100)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    for name in ("segmentation_format", "detection_masks", "rate"):
        assert name in output, output
    assert "Traceback" not in output
