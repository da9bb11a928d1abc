"""The dualposenet node over real DDS, in a separate process.

* With a stand-in estimator (fast, checkable answers): outputs and their stamps/frames, /tf (or its
  stand-in topic), markers, debug image, diagnostics; every malformed input leaves the node alive,
  is logged and counted, and the next good frame is processed; the refine mode changes at run time.
* With the real pipeline and a tiny random-weight checkpoint: the executable, the shipped config
  file, finite poses, refinement switched on at run time, the CPU fallback of ``device: cuda``.
* Invalid parameters stop the executable at start with a message naming them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ros_node_support import (FAIL_SCORE, FRAME_ID, ObjectSpec, Probe, image_msg, make_frame, stamp_msg,
                              write_tiny_checkpoint)
from ros_support import require_rclpy, start_python, stop

REPO = Path(__file__).resolve().parents[1]
TEST_DIR = Path(__file__).resolve().parent
EXECUTABLE = REPO / "scripts" / "dualposenet_node"


def _alive(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        pytest.fail(f"node exited with {process.returncode}:\n{stop(process)}")


def _bad_frames(t: float) -> dict[str, tuple[tuple, str, bool]]:
    """name -> (messages, the diagnostics counter it increments, whether objects are still published)."""
    cases = {}
    color, depth, info, seg = make_frame(t)
    color.encoding = "mono8"
    cases["wrong encoding"] = ((color, depth, info, seg), "rejected: color_encoding", False)
    color, depth, info, seg = make_frame(t)
    cases["mismatched sizes"] = ((color, make_frame(t, width=32, height=24)[1], info, seg), "rejected: size_mismatch", False)
    color, depth, info, seg = make_frame(t)
    info.k = [0.0] * 9
    cases["zero intrinsics"] = ((color, depth, info, seg), "rejected: camera_info_invalid", False)
    color, depth, info, seg = make_frame(t)
    big = image_msg(np.zeros((2160, 3840, 3), np.uint8), "rgb8", color.header.stamp)
    cases["4K image"] = ((big, depth, info, seg), "rejected: image_too_large", False)
    cases["empty masks"] = (make_frame(t, objects=(ObjectSpec(6, (0, 0), (0, 0)),)), "issue: empty_mask", True)
    all_background = make_frame(t)
    all_background[3].labels = image_msg(np.zeros((48, 64), np.uint16), "mono16", all_background[3].header.stamp)
    cases["all-background labels"] = (all_background, "issue: empty_mask", True)
    color, depth, info, seg = make_frame(t, depth_encoding="32FC1")
    cases["NaN depth"] = ((color, image_msg(np.full((48, 64), np.nan, np.float32), "32FC1", depth.header.stamp,
                                            FRAME_ID), info, seg), "issue: invalid_depth", True)
    color, depth, info, seg = make_frame(t)
    cases["zero depth"] = ((color, image_msg(np.zeros((48, 64), np.uint16), "16UC1", depth.header.stamp, FRAME_ID),
                            info, seg), "issue: no_valid_depth", True)
    cases["unknown class id"] = (make_frame(t, objects=(ObjectSpec(6, (10, 30), (8, 28)), ObjectSpec(17, (20, 40), (36, 60)))),
                                 "issue: unknown_class_id", True)
    color, depth, info, seg = make_frame(t)
    seg.class_ids, seg.class_names, seg.scores = [6], ["mug"], [0.9]  # label 2 has no entry
    cases["label without class"] = ((color, depth, info, seg), "issue: label_without_class", True)
    cases["estimator failure"] = (make_frame(t, objects=(ObjectSpec(6, (10, 30), (8, 28), score=FAIL_SCORE),)),
                                  "error: estimation_failed", False)
    return cases


@pytest.mark.timeout(240)
def test_node_outputs_malformed_inputs_and_runtime_refine(ros_env, rclpy_context):
    require_rclpy()
    node = start_python([str(TEST_DIR / "run_stub_node.py"), "--ros-args", "-p", "qos.reliability:=reliable",
                         "-p", "diagnostics_period:=0.25", "-p", "input_timeout:=1.0", "-p", "warning_period:=30.0",
                         "-p", "marker_lifetime:=2.0"], ros_env)
    probe = Probe(rclpy_context)
    try:
        # A good frame: every output, with the input's stamp and frame.
        first = probe.wait_for_objects(1.0, timeout=40, republish=make_frame(1.0))
        _alive(node)
        assert first is not None, "no objects published"
        assert first.header.frame_id == FRAME_ID
        assert [(o.category, o.instance_id, o.status, o.refined) for o in first.objects] == [
            ("mug", 1, 0, False), ("bowl", 2, 0, False)]
        mug = first.objects[0]
        assert mug.pose.position.z == pytest.approx(0.6, abs=1e-3) and mug.num_points == 400
        assert probe.spin_until(lambda: {("camera_color_optical_frame", "dualposenet/mug_1"),
                                         ("camera_color_optical_frame", "dualposenet/bowl_2")} <= set(probe.tf_frames), 10), \
            f"TF frames on {probe.tf_topic}: {probe.tf_frames}"
        assert probe.spin_until(lambda: any(m.markers[0].header.stamp.sec == 1 for m in probe.markers), 5)
        marker_array = next(m for m in probe.markers if m.markers[0].header.stamp.sec == 1)
        assert {m.ns for m in marker_array.markers[1:]} == {"boxes", "box_edges", "axes", "labels"}
        assert probe.wait_for_objects(1.5, republish=make_frame(1.5)) is not None
        assert probe.spin_until(lambda: bool(probe.debug_images), 10), "no debug image while subscribed"
        debug = probe.debug_images[-1]
        assert (debug.encoding, debug.height, debug.width, debug.header.frame_id) == ("rgb8", 48, 64, FRAME_ID)

        # Every malformed input: node alive, the next good frame processed normally.
        t = 2.0
        outcomes = {}
        for name, (msgs, counter, publishes) in _bad_frames(0).items():
            t += 1.0
            for msg in msgs:  # restamp the case to t
                for header in (getattr(msg, "header", None), getattr(getattr(msg, "labels", None), "header", None)):
                    if header is not None:
                        header.stamp.sec, header.stamp.nanosec = int(t), 0
            before = int(probe.latest_diagnostics().get(counter, 0))
            probe.publish(msgs)
            # Wait until the node has counted it (a good frame sent at once could replace it: latest wins).
            assert probe.spin_until(lambda: int(probe.latest_diagnostics().get(counter, 0)) > before, 20), \
                f"{name}: {counter!r} not counted in diagnostics: {probe.latest_diagnostics()}"
            good_t = t + 0.5
            assert probe.wait_for_objects(good_t, timeout=20, republish=make_frame(good_t)) is not None, \
                f"no result for the good frame after {name}"
            _alive(node)
            outcomes[name] = probe.objects_at(t)
            if publishes:
                assert outcomes[name] is not None, f"{name}: the usable part of the frame was not published"
            else:
                assert outcomes[name] is None, f"{name}: a rejected frame produced objects"
        statuses = {name: [(o.category, o.status) for o in msg.objects] for name, msg in outcomes.items() if msg}
        assert statuses["empty masks"] == [] and statuses["all-background labels"] == []
        assert statuses["NaN depth"] == [("mug", 1), ("bowl", 1)] and statuses["zero depth"] == [("mug", 1), ("bowl", 1)]
        assert statuses["unknown class id"] == [("mug", 0)] and statuses["label without class"] == [("mug", 0)]

        # No camera_info: the other inputs arrive alone for longer than input_timeout.
        for index in range(8):
            probe.publish(make_frame(40.0 + index * 0.2), skip=(2,))
            probe.spin_until(lambda: False, 0.2)
        assert probe.wait_for_objects(50.0, republish=make_frame(50.0)) is not None
        _alive(node)

        # Refine mode at run time.
        result = probe.set_parameter("/dualposenet", "refine.mode", "feature")
        assert result.successful, result.reason
        refined = probe.wait_for_objects(51.0, republish=make_frame(51.0))
        assert refined is not None and all(o.refined for o in refined.objects)
        result = probe.set_parameter("/dualposenet", "refine.mode", "everything")
        assert not result.successful and "unknown refine mode" in result.reason
        assert probe.set_parameter("/dualposenet", "refine.mode", "none").successful
        plain = probe.wait_for_objects(52.0, republish=make_frame(52.0))
        assert plain is not None and not any(o.refined for o in plain.objects)

        # Diagnostics count every kind of problem.
        expected = ["rejected: color_encoding", "rejected: size_mismatch", "rejected: camera_info_invalid",
                    "rejected: image_too_large", "issue: empty_mask", "issue: invalid_depth", "issue: no_valid_depth",
                    "issue: too_few_points", "issue: unknown_class_id", "issue: label_without_class",
                    "issue: missing_camera_info", "error: estimation_failed"]
        count = len(probe.diagnostics)
        assert probe.spin_until(lambda: len(probe.diagnostics) > count + 1, 5)
        values = probe.latest_diagnostics()
        missing = [key for key in expected if key not in values]
        assert not missing, f"not in diagnostics: {missing}\n{values}"
        assert int(values["frames processed"]) >= 15 and values["refine mode"] == "none"
        assert float(values["input rate (Hz)"]) >= 0 and values["latency mean (ms)"]
        _alive(node)
    finally:
        probe.close()
        output = stop(node)
        print(output)  # shown by pytest when the test fails
    for text in ["frame rejected: color image has encoding 'mono8'", "depth image is 32x24 but the colour image is 64x48",
                 "3840x2160 = 8294400 pixels", "fx = 0.0", "class id 17", "beyond the 1 class_ids entries",
                 "has no pixels in the label image", "NaN, infinite or negative pixels", "TOO_FEW_POINTS",
                 "estimation failed: RuntimeError", "no camera_info message on /color/camera_info",
                 "refine mode none -> feature"]:
        assert text in output, f"{text!r} not logged:\n{output}"
    assert output.count("frame rejected: color image has encoding") == 1  # rate-limited
    assert "Traceback" not in output.split("estimation failed")[0]  # only the requested failure has a traceback


@pytest.mark.timeout(240)
def test_real_pipeline_with_config_file_and_approximate_sync(ros_env, rclpy_context, tmp_path):
    require_rclpy()
    import torch

    checkpoint = write_tiny_checkpoint(tmp_path / "tiny")
    node = start_python([str(EXECUTABLE), "--ros-args", "--params-file", str(REPO / "config" / "dualposenet.yaml"),
                         "-r", "__ns:=/robot", "-r", "color/image:=camera/rgb", "-p", f"checkpoint:={checkpoint}",
                         "-p", "device:=cuda", "-p", "sync.mode:=approximate", "-p", "qos.reliability:=reliable",
                         "-p", "frame_prefix:=obj_"], ros_env)
    probe = Probe(rclpy_context, node_namespace="/robot/dualposenet", input_topics=(
        "/robot/camera/rgb", "/robot/depth/image", "/robot/color/camera_info", "/robot/segmentation"))

    def frame(t: float):
        color, depth, info, seg = make_frame(t)
        depth.header.stamp = stamp_msg(t + 0.01)  # 10 ms apart: matched only approximately
        return color, depth, info, seg

    try:
        result = probe.wait_for_objects(1.0, timeout=90, republish=frame(1.0))
        _alive(node)
        assert result is not None, "the real pipeline published nothing"
        assert [o.category for o in result.objects] == ["mug", "bowl"]
        for pose in result.objects:
            assert pose.status == 0 and not pose.refined and pose.num_points > 0
            values = [pose.pose.position.x, pose.pose.position.y, pose.pose.position.z, pose.pose.orientation.w,
                      pose.size.x, pose.size.y, pose.size.z, pose.scale]
            assert np.all(np.isfinite(values))
            q = pose.pose.orientation
            assert np.linalg.norm([q.x, q.y, q.z, q.w]) == pytest.approx(1.0, abs=1e-5)
        assert probe.spin_until(lambda: ("camera_color_optical_frame", "obj_mug_1") in probe.tf_frames, 10)
        assert probe.set_parameter("/robot/dualposenet", "refine.mode", "feature").successful
        refined = probe.wait_for_objects(2.0, timeout=60, republish=frame(2.0))
        assert refined is not None and all(o.refined for o in refined.objects)
        _alive(node)
    finally:
        probe.close()
        output = stop(node)
        print(output)  # shown by pytest when the test fails
    if not torch.cuda.is_available():
        assert "device 'cuda' requested but CUDA is not available: using the CPU" in output
    assert "ready: model" in output and "approximate (slop 0.05 s)" in output and "/robot/camera/rgb" in output


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
