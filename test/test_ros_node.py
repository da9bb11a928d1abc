"""The dualposenet node over real DDS, always with the real pipeline on a tiny random-weight model.

* The real executable with the model's checkpoint: outputs and their stamps/frames, /tf
  (``TFMessage``, one frame per object under the optical frame, agreeing with ~/objects), markers,
  debug image, diagnostics; every malformed input leaves the node alive, is logged and counted, and
  the next good frame is processed; the refine mode changes at run time.
* The executable with the shipped config file, remapped topics, approximate sync and the CPU
  fallback of ``device: cuda``.
* In this process, the real estimator with one fault injected: a failing estimation is logged and
  counted, and the next frame is processed.
* Invalid parameters stop the executable at start with a message naming them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dualposenet_ros.categories import category_name
from dualposenet_ros.estimates import FrameInput, ObjectEstimate, RefineMode
from dualposenet_ros.pipeline import PoseEstimator
from ros_node_support import (DEFAULT_OBJECTS, FRAME_ID, ObjectSpec, Probe, assert_tf_publisher, assert_valid_object,
                              image_msg, in_process_node, make_frame, stamp_msg, tiny_estimator, write_tiny_checkpoint)
from ros_support import require_rclpy, start_python, stop

REPO = Path(__file__).resolve().parents[1]
EXECUTABLE = REPO / "scripts" / "dualposenet_node"
FAIL_SCORE = 0.25
"""Score that marks the instance of a frame :class:`FaultInjectingEstimator` fails on."""


class FaultInjectingEstimator(PoseEstimator):
    """The real estimator, raising on a frame with an instance scored :data:`FAIL_SCORE`."""

    def estimate(self, frame: FrameInput, refine: RefineMode | str | None = None) -> list[ObjectEstimate]:
        if any(instance.score == FAIL_SCORE for instance in frame.instances):
            raise RuntimeError("fault injected by the test")
        return super().estimate(frame, refine)


def _start_node(ros_env: dict[str, str], checkpoint: Path, *ros_args: str) -> subprocess.Popen:
    """The ``dualposenet_node`` executable on ``checkpoint`` with ``--ros-args ros_args``.

    ``-p`` overrides ``--params-file`` only where the file comes first, so ``checkpoint`` comes last."""
    return start_python([str(EXECUTABLE), "--ros-args", *ros_args, "-p", f"checkpoint:={checkpoint}"], ros_env)


def _alive(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        pytest.fail(f"node exited with {process.returncode}:\n{stop(process)}")


def _assert_objects(msg: Any, seconds: float, objects: tuple[ObjectSpec, ...] = DEFAULT_OBJECTS,
                    refined: bool = False) -> None:
    """``msg`` is the node's answer to :func:`make_frame` ``(seconds, objects=objects)`` (OK estimates)."""
    assert msg is not None, f"no objects published for the frame stamped {seconds}"
    assert msg.header.frame_id == FRAME_ID and msg.header.stamp == stamp_msg(seconds)
    assert [(o.category, o.class_id, o.instance_id, o.score, o.status, o.refined) for o in msg.objects] == [
        (category_name(spec.class_id), spec.class_id, index, pytest.approx(spec.score), 0, refined)
        for index, spec in enumerate(objects, start=1)]
    for pose, spec in zip(msg.objects, objects):
        assert_valid_object(pose, spec.pixels)


def _assert_tf(probe: Probe, objects: Any, prefix: str) -> None:
    """/tf has one TFMessage transform ``<prefix><category>_<instance>`` per object, child of the
    optical frame, stamped like ``objects`` and equal to its pose."""
    seconds = objects.header.stamp.sec + objects.header.stamp.nanosec * 1e-9
    expected = {(FRAME_ID, f"{prefix}{o.category}_{o.instance_id}"): o.pose for o in objects.objects}
    assert probe.spin_until(lambda: probe.transforms_at(seconds).keys() == expected.keys(), 10), \
        f"/tf at {seconds}: {sorted(probe.transforms_at(seconds))}, expected {sorted(expected)}"
    for key, transform in probe.transforms_at(seconds).items():
        pose = expected[key]
        t, r, p, q = transform.translation, transform.rotation, pose.position, pose.orientation
        assert (t.x, t.y, t.z, r.x, r.y, r.z, r.w) == (p.x, p.y, p.z, q.x, q.y, q.z, q.w), key


def _restamped(msgs: tuple[Any, ...], seconds: float) -> tuple[Any, ...]:
    for msg in msgs:
        for header in (getattr(msg, "header", None), getattr(getattr(msg, "labels", None), "header", None)):
            if header is not None:
                header.stamp = stamp_msg(seconds)
    return msgs


def _bad_frames() -> dict[str, tuple[tuple, str, bool]]:
    """name -> (messages, the diagnostics counter it increments, whether objects are still published)."""
    cases = {}
    color, depth, info, seg = make_frame()
    color.encoding = "mono8"
    cases["wrong encoding"] = ((color, depth, info, seg), "rejected: color_encoding", False)
    color, depth, info, seg = make_frame()
    cases["mismatched sizes"] = ((color, make_frame(width=32, height=24)[1], info, seg), "rejected: size_mismatch", False)
    color, depth, info, seg = make_frame()
    info.k = [0.0] * 9
    cases["zero intrinsics"] = ((color, depth, info, seg), "rejected: camera_info_invalid", False)
    color, depth, info, seg = make_frame()
    big = image_msg(np.zeros((2160, 3840, 3), np.uint8), "rgb8")
    cases["4K image"] = ((big, depth, info, seg), "rejected: image_too_large", False)
    cases["empty masks"] = (make_frame(objects=(ObjectSpec(6, (0, 0), (0, 0)),)), "issue: empty_mask", True)
    all_background = make_frame()
    all_background[3].labels = image_msg(np.zeros((48, 64), np.uint16), "mono16")
    cases["all-background labels"] = (all_background, "issue: empty_mask", True)
    color, depth, info, seg = make_frame(depth_encoding="32FC1")
    cases["NaN depth"] = ((color, image_msg(np.full((48, 64), np.nan, np.float32), "32FC1"), info, seg),
                          "issue: invalid_depth", True)
    color, depth, info, seg = make_frame()
    cases["zero depth"] = ((color, image_msg(np.zeros((48, 64), np.uint16), "16UC1"), info, seg),
                           "issue: no_valid_depth", True)
    cases["unknown class id"] = (make_frame(objects=(ObjectSpec(6, (10, 30), (8, 28)), ObjectSpec(17, (20, 40), (36, 60)))),
                                 "issue: unknown_class_id", True)
    color, depth, info, seg = make_frame()
    seg.class_ids, seg.class_names, seg.scores = [6], ["mug"], [0.9]  # label 2 has no entry
    cases["label without class"] = ((color, depth, info, seg), "issue: label_without_class", True)
    return cases


@pytest.mark.timeout(300)
def test_node_outputs_malformed_inputs_and_runtime_refine(ros_env, rclpy_context, tmp_path):
    require_rclpy()
    node = _start_node(ros_env, write_tiny_checkpoint(tmp_path / "tiny"), "-p", "device:=cpu",
                       "-p", "qos.reliability:=reliable", "-p", "diagnostics_period:=0.25", "-p", "input_timeout:=1.0",
                       "-p", "warning_period:=30.0", "-p", "marker_lifetime:=2.0")
    probe = Probe(rclpy_context)
    try:
        # A good frame: every output, with the input's stamp and frame.
        first = probe.wait_for_objects(1.0, timeout=90, republish=make_frame(1.0))
        _alive(node)
        _assert_objects(first, 1.0)
        _assert_tf(probe, first, "dualposenet/")
        assert_tf_publisher(probe.node, "dualposenet")
        assert probe.spin_until(lambda: any(m.markers[0].header.stamp == stamp_msg(1.0) for m in probe.markers), 5)
        marker_array = next(m for m in probe.markers if m.markers[0].header.stamp == stamp_msg(1.0))
        assert {m.ns for m in marker_array.markers[1:]} == {"boxes", "box_edges", "axes", "labels"}
        assert all(m.header.frame_id == FRAME_ID for m in marker_array.markers[1:])
        _assert_objects(probe.wait_for_objects(1.5, republish=make_frame(1.5)), 1.5)
        assert probe.spin_until(lambda: bool(probe.debug_images), 10), "no debug image while subscribed"
        debug = probe.debug_images[-1]
        assert (debug.encoding, debug.height, debug.width, debug.header.frame_id) == ("rgb8", 48, 64, FRAME_ID)

        # Every malformed input: node alive, counted, the next good frame processed normally.
        outcomes, stamps = {}, {}
        for index, (name, (msgs, counter, publishes)) in enumerate(_bad_frames().items()):
            t = stamps[name] = 3.0 + index
            before = probe.counter(counter)
            probe.publish(_restamped(msgs, t))
            # Wait until the node has counted it (a good frame sent at once could replace it: latest wins).
            assert probe.spin_until(lambda: probe.counter(counter) > before, 20), \
                f"{name}: {counter!r} not counted in diagnostics: {probe.latest_diagnostics()}"
            _assert_objects(probe.wait_for_objects(t + 0.5, timeout=20, republish=make_frame(t + 0.5)), t + 0.5)
            _alive(node)
            outcomes[name] = probe.objects_at(t)
            assert (outcomes[name] is not None) == publishes, f"{name}: published {outcomes[name]}"
        statuses = {name: [(o.category, o.status) for o in msg.objects] for name, msg in outcomes.items() if msg}
        assert statuses["empty masks"] == [] and statuses["all-background labels"] == []
        assert statuses["NaN depth"] == [("mug", 1), ("bowl", 1)] and statuses["zero depth"] == [("mug", 1), ("bowl", 1)]
        assert statuses["unknown class id"] == [("mug", 0)] and statuses["label without class"] == [("mug", 0)]
        for name in ("NaN depth", "zero depth", "unknown class id", "label without class"):
            for pose in outcomes[name].objects:
                assert_valid_object(pose, DEFAULT_OBJECTS[pose.instance_id - 1].pixels)
        assert probe.transforms_at(stamps["NaN depth"]) == {}  # TOO_FEW_POINTS: no TF frame

        # No camera_info: the other inputs arrive alone for longer than input_timeout.
        for index in range(8):
            probe.publish(make_frame(40.0 + index * 0.2), skip=(2,))
            probe.spin_until(lambda: False, 0.2)
        _assert_objects(probe.wait_for_objects(50.0, republish=make_frame(50.0)), 50.0)
        _alive(node)

        # Refine mode at run time.
        result = probe.set_parameter("/dualposenet", "refine.mode", "feature")
        assert result.successful, result.reason
        _assert_objects(probe.wait_for_objects(51.0, timeout=30, republish=make_frame(51.0)), 51.0, refined=True)
        result = probe.set_parameter("/dualposenet", "refine.mode", "everything")
        assert not result.successful and "unknown refine mode" in result.reason
        assert probe.set_parameter("/dualposenet", "refine.mode", "none").successful
        _assert_objects(probe.wait_for_objects(52.0, timeout=30, republish=make_frame(52.0)), 52.0)

        # Diagnostics count every kind of problem.
        expected = ["rejected: color_encoding", "rejected: size_mismatch", "rejected: camera_info_invalid",
                    "rejected: image_too_large", "issue: empty_mask", "issue: invalid_depth", "issue: no_valid_depth",
                    "issue: too_few_points", "issue: unknown_class_id", "issue: label_without_class",
                    "issue: missing_camera_info"]
        count = len(probe.diagnostics)
        assert probe.spin_until(lambda: len(probe.diagnostics) > count + 1, 5)
        values = probe.latest_diagnostics()
        missing = [key for key in expected if key not in values]
        assert not missing, f"not in diagnostics: {missing}\n{values}"
        assert int(values["frames processed"]) >= 15 and values["frames failed"] == "0"
        assert (values["refine mode"], values["TF"], values["device"]) == ("none", "/tf", "cpu")
        assert float(values["input rate (Hz)"]) >= 0 and values["latency mean (ms)"]
        _alive(node)
    finally:
        probe.close()
        output = stop(node)
        print(output)  # shown by pytest when the test fails
    for text in ["frame rejected: color image has encoding 'mono8'", "depth image is 32x24 but the colour image is 64x48",
                 "3840x2160 = 8294400 pixels", "fx = 0.0", "class id 17", "beyond the 1 class_ids entries",
                 "has no pixels in the label image", "NaN, infinite or negative pixels", "TOO_FEW_POINTS",
                 "no camera_info message on /color/camera_info", "refine mode none -> feature"]:
        assert text in output, f"{text!r} not logged:\n{output}"
    assert output.count("frame rejected: color image has encoding") == 1  # rate-limited
    assert "Traceback" not in output and "TF output disabled" not in output


@pytest.mark.timeout(240)
def test_real_pipeline_with_config_file_and_approximate_sync(ros_env, rclpy_context, tmp_path):
    require_rclpy()
    import torch

    node = _start_node(ros_env, write_tiny_checkpoint(tmp_path / "tiny"), "--params-file",
                       str(REPO / "config" / "dualposenet.yaml"), "-r", "__ns:=/robot", "-r", "color/image:=camera/rgb",
                       "-p", "device:=cuda", "-p", "sync.mode:=approximate", "-p", "qos.reliability:=reliable",
                       "-p", "frame_prefix:=obj_")
    probe = Probe(rclpy_context, node_namespace="/robot/dualposenet", input_topics=(
        "/robot/camera/rgb", "/robot/depth/image", "/robot/color/camera_info", "/robot/segmentation"))

    def frame(t: float) -> tuple[Any, ...]:
        color, depth, info, seg = make_frame(t)
        depth.header.stamp = stamp_msg(t + 0.01)  # 10 ms apart: matched only approximately
        return color, depth, info, seg

    try:
        result = probe.wait_for_objects(1.0, timeout=90, republish=frame(1.0))
        _alive(node)
        _assert_objects(result, 1.0)
        _assert_tf(probe, result, "obj_")
        assert_tf_publisher(probe.node, "dualposenet")
    finally:
        probe.close()
        output = stop(node)
        print(output)  # shown by pytest when the test fails
    if not torch.cuda.is_available():
        assert "device 'cuda' requested but CUDA is not available: using the CPU" in output
    assert "ready: model" in output and "approximate (slop 0.05 s)" in output and "/robot/camera/rgb" in output
    assert "TF /tf" in output


@pytest.mark.timeout(120)
def test_estimator_failure_is_logged_counted_and_the_next_frame_processed(rclpy_context, capfd):
    require_rclpy()
    node = in_process_node(rclpy_context, {"qos.reliability": "reliable", "diagnostics_period": 0.25},
                           estimator=tiny_estimator(FaultInjectingEstimator))
    probe = Probe(rclpy_context)
    probe.executor.add_node(node)
    try:
        _assert_objects(probe.wait_for_objects(1.0, timeout=30, republish=make_frame(1.0)), 1.0)
        failing = (ObjectSpec(6, (10, 30), (8, 28), score=FAIL_SCORE),)
        probe.publish(make_frame(2.0, objects=failing))
        assert probe.spin_until(lambda: probe.counter("error: estimation_failed") == 1, 20), probe.latest_diagnostics()
        assert probe.latest_diagnostics()["__level__"] == 2  # ERROR
        _assert_objects(probe.wait_for_objects(3.0, republish=make_frame(3.0)), 3.0)
        assert probe.objects_at(2.0) is None and probe.counter("frames failed") == 1
    finally:
        probe.close()
        node.destroy_node()
    log = capfd.readouterr().err
    assert "estimation failed: RuntimeError('fault injected by the test')" in log and "Traceback" in log, log


@pytest.mark.timeout(120)
def test_invalid_parameters_stop_the_executable_with_a_clear_message(ros_env):
    require_rclpy()
    process = subprocess.run([sys.executable, str(EXECUTABLE), "--ros-args", "-p", "device:=gpu", "-p",
                              "sync.slop:=-1.0", "-p", "checkpoint:=/nonexistent/model", "-p", "min_points:=many"],
                             env=ros_env, capture_output=True, text=True, timeout=100)
    output = process.stdout + process.stderr
    assert process.returncode == 1, output
    assert "min_points must be an integer" in output and "Traceback" not in output
    process = subprocess.run([sys.executable, str(EXECUTABLE), "--ros-args", "-p", "device:=gpu", "-p",
                              "sync.slop:=-1.0", "-p", "checkpoint:=/nonexistent/model"],
                             env=ros_env, capture_output=True, text=True, timeout=100)
    output = process.stdout + process.stderr
    assert process.returncode == 1, output
    for text in ["device must be auto, cpu, cuda or cuda:N, got 'gpu'", "sync.slop must be > 0 seconds",
                 "checkpoint '/nonexistent/model' not found"]:
        assert text in output, output
    assert "Traceback" not in output
