"""The dualposenet node over real DDS, always with the real pipeline on a tiny random-weight model.

Most tests share one running ``dualposenet_node`` executable (start-up is the cost) and check one
behaviour each, with their own frame stamps: outputs and their stamps/frames, /tf, markers, debug
image, diagnostics; every malformed input leaves the node alive, is logged and counted, and the
next good frame is processed; stamps that repeat or go backwards; incomplete inputs; the refine
mode at run time. Others start their own node: the shipped config file with remaps and
approximate sync, a fault injected into the estimator, invalid parameters, silent inputs, and
Ctrl-C in the middle of a long frame.
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dualposenet_ros.core.categories import category_name
from dualposenet_ros.core.estimates import FrameInput, ObjectEstimate
from dualposenet_ros.inference.pipeline import PoseEstimator
from dualposenet_ros.ros.dds_profile import PROFILE_VARIABLES, shipped_profile
from dualposenet_ros.ros.parameters import reliable_input_overrides
from ros_node_support import (DEFAULT_OBJECTS, FRAME_ID, ObjectSpec, Probe, assert_tf_publisher,
                              assert_valid_object, image_msg, in_process_node, make_frame, stamp_msg, tiny_estimator,
                              write_tiny_checkpoint)
from ros_support import require_rclpy, start_python, stop, track

REPO = Path(__file__).resolve().parents[1]
EXECUTABLE = REPO / "scripts" / "dualposenet_node"
FAIL_SCORE = 0.25
"""Score that marks the instance of a frame :class:`FaultInjectingEstimator` fails on."""
RELIABLE_INPUTS = [arg for name, value in reliable_input_overrides().items() for arg in ("-p", f"{name}:={value}")]


class FaultInjectingEstimator(PoseEstimator):
    """The real estimator, raising on a frame with an instance scored :data:`FAIL_SCORE`."""

    def estimate(self, frame: FrameInput, *args: Any, **kwargs: Any) -> list[ObjectEstimate]:
        if any(instance.score == FAIL_SCORE for instance in frame.instances):
            raise RuntimeError("fault injected by the test")
        return super().estimate(frame, *args, **kwargs)


def _start_node(ros_env: dict[str, str], checkpoint: Path, *ros_args: str, log: Path | None = None) -> subprocess.Popen:
    """The ``dualposenet_node`` executable on ``checkpoint`` with ``--ros-args ros_args`` (output to
    ``log`` when given, readable while it runs).

    ``-p`` overrides ``--params-file`` only where the file comes first, so ``checkpoint`` comes last."""
    args = [str(EXECUTABLE), "--ros-args", *ros_args, "-p", f"checkpoint:={checkpoint}"]
    if log is None:
        return start_python(args, ros_env)
    return track(subprocess.Popen([sys.executable, *args], env=ros_env, stdout=log.open("w"), stderr=subprocess.STDOUT))


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


def _tf_name(pose: Any) -> str:
    """``<category>_<track id>`` (the instance id when untracked): the TF child frame without prefix."""
    return f"{pose.category}_{getattr(pose, 'track_id', 0) or pose.instance_id}"


def _restamped(msgs: tuple[Any, ...], seconds: float) -> tuple[Any, ...]:
    for msg in msgs:
        for header in (getattr(msg, "header", None), getattr(getattr(msg, "labels", None), "header", None)):
            if header is not None:
                header.stamp = stamp_msg(seconds)
    return msgs


# -- one node shared by the tests of its behaviour ------------------------------------------------


class LiveNode:
    """The running executable, the probe that feeds it, and its log so far."""

    def __init__(self, process: subprocess.Popen, probe: Probe, log: Path) -> None:
        self.process, self.probe, self.log_path = process, probe, log
        self._next_stamp = 1000.0

    def log(self) -> str:
        return self.log_path.read_text()

    def alive(self) -> None:
        if self.process.poll() is not None:
            pytest.fail(f"node exited with {self.process.returncode}:\n{self.log()}")

    def stamp(self) -> float:
        """A stamp no other test of the module uses (later than every stamp before)."""
        self._next_stamp += 10.0
        return self._next_stamp

    def good_frame_processed(self, seconds: float, **kwargs: Any) -> Any:
        """Publish a good frame stamped ``seconds`` until its objects come back; check them."""
        result = self.probe.wait_for_objects(seconds, timeout=30, republish=make_frame(seconds))
        self.alive()
        _assert_objects(result, seconds, **kwargs)
        return result


@pytest.fixture(scope="module")
def live(module_ros_env, module_rclpy_context, tmp_path_factory):
    require_rclpy()
    folder = tmp_path_factory.mktemp("live_node")
    # As a user starts it: no DDS profile chosen, so the executable applies the package's own.
    env = {name: value for name, value in module_ros_env.items() if name not in PROFILE_VARIABLES}
    probe = Probe(module_rclpy_context)  # before the node: a probe that cannot start leaves no node behind
    process = _start_node(env, write_tiny_checkpoint(folder / "tiny"), *RELIABLE_INPUTS,
                          "-p", "device:=cpu", "-p", "diagnostics_period:=0.25", "-p", "input_timeout:=1.0",
                          "-p", "warning_period:=30.0", "-p", "marker_lifetime:=2.0", log=folder / "node.log")
    node = LiveNode(process, probe, folder / "node.log")
    try:
        first = probe.wait_for_objects(1.0, timeout=90, republish=make_frame(1.0))
        node.alive()
        _assert_objects(first, 1.0)
        yield node
    finally:
        probe.close()
        stop(process)


def test_objects_carry_the_input_stamp_and_frame(live):
    _assert_objects(live.probe.objects_at(1.0), 1.0)
    live.good_frame_processed(live.stamp())


def test_tf_has_one_frame_per_object_equal_to_its_pose(live):
    objects = live.probe.objects_at(1.0)
    expected = {(FRAME_ID, f"dualposenet/{_tf_name(o)}"): o.pose for o in objects.objects}
    assert live.probe.spin_until(lambda: live.probe.transforms_at(1.0).keys() == expected.keys(), 10), \
        f"/tf at 1.0: {sorted(live.probe.transforms_at(1.0))}, expected {sorted(expected)}"
    for key, transform in live.probe.transforms_at(1.0).items():
        t, r, p, q = transform.translation, transform.rotation, expected[key].position, expected[key].orientation
        assert (t.x, t.y, t.z, r.x, r.y, r.z, r.w) == (p.x, p.y, p.z, q.x, q.y, q.z, q.w), key
    assert_tf_publisher(live.probe.node, "dualposenet")


def test_markers_show_every_object_in_the_optical_frame(live):
    probe = live.probe
    assert probe.spin_until(lambda: any(m.markers[0].header.stamp == stamp_msg(1.0) for m in probe.markers), 5)
    marker_array = next(m for m in probe.markers if m.markers[0].header.stamp == stamp_msg(1.0))
    assert {m.ns for m in marker_array.markers[1:]} == {"boxes", "box_edges", "axes", "labels"}
    assert all(m.header.frame_id == FRAME_ID for m in marker_array.markers[1:])


def test_debug_image_while_subscribed(live):
    live.good_frame_processed(live.stamp())
    assert live.probe.spin_until(lambda: bool(live.probe.debug_images), 10), "no debug image while subscribed"
    debug = live.probe.debug_images[-1]
    assert (debug.encoding, debug.height, debug.width, debug.header.frame_id) == ("rgb8", 48, 64, FRAME_ID)


BAD_FRAME_NAMES = ("wrong encoding", "mismatched sizes", "zero intrinsics", "4K image", "depth in another frame",
                   "unsupported lens model", "empty masks", "all-background labels", "NaN depth", "zero depth",
                   "huge finite depth", "saturated 16-bit depth", "unknown class id", "label without class")
"""The cases of :func:`_bad_frames`, named here so that collecting this file needs no ROS messages."""


@functools.cache
def _bad_frames() -> dict[str, tuple[tuple, str, bool]]:
    """name -> (messages, the diagnostics counter it increments, whether objects are still published)."""
    cases = {}
    color, depth, info, seg = make_frame()
    color.encoding = "mono8"
    cases["wrong encoding"] = ((color, depth, info, seg), "rejected: color_encoding", False)
    color, depth, info, seg = make_frame()
    cases["mismatched sizes"] = ((color, make_frame(width=32, height=24)[1], info, seg), "rejected: size_mismatch",
                                 False)
    color, depth, info, seg = make_frame()
    info.k = [0.0] * 9
    cases["zero intrinsics"] = ((color, depth, info, seg), "rejected: camera_info_invalid", False)
    color, depth, info, seg = make_frame()
    big = image_msg(np.zeros((2160, 3840, 3), np.uint8), "rgb8")
    cases["4K image"] = ((big, depth, info, seg), "rejected: image_too_large", False)
    color, depth, info, seg = make_frame()
    depth.header.frame_id = "camera_depth_optical_frame"
    cases["depth in another frame"] = ((color, depth, info, seg), "rejected: frame_id_mismatch", False)
    color, depth, info, seg = make_frame()
    info.distortion_model, info.d = "double_sphere", [0.5, 0.6, 0.0, 0.0, 0.0, 0.0]
    cases["unsupported lens model"] = ((color, depth, info, seg), "rejected: distortion_unsupported", False)
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
    color, depth, info, seg = make_frame(depth_encoding="32FC1")
    cases["huge finite depth"] = ((color, image_msg(np.full((48, 64), 3e38, np.float32), "32FC1"), info, seg),
                                  "issue: depth_out_of_range", True)
    color, depth, info, seg = make_frame()
    cases["saturated 16-bit depth"] = ((color, image_msg(np.full((48, 64), 65535, np.uint16), "16UC1"), info, seg),
                                       "issue: depth_out_of_range", True)
    unknown = (ObjectSpec(6, (10, 30), (8, 28)), ObjectSpec(17, (20, 40), (36, 60)))
    cases["unknown class id"] = (make_frame(objects=unknown), "issue: unknown_class_id", True)
    color, depth, info, seg = make_frame()
    seg.class_ids, seg.class_names, seg.scores = [6], ["mug"], [0.9]  # label 2 has no entry
    cases["label without class"] = ((color, depth, info, seg), "issue: label_without_class", True)
    return cases


EXPECTED_STATUSES = {
    "empty masks": [], "all-background labels": [], "NaN depth": [("mug", 1), ("bowl", 1)],
    "zero depth": [("mug", 1), ("bowl", 1)], "huge finite depth": [("mug", 1), ("bowl", 1)],
    "saturated 16-bit depth": [("mug", 1), ("bowl", 1)], "unknown class id": [("mug", 0)],
    "label without class": [("mug", 0)]}
"""(category, status) of the objects published for each bad frame that still publishes."""


@pytest.mark.parametrize("name", BAD_FRAME_NAMES)
def test_malformed_input_is_counted_and_the_next_frame_processed(live, name):
    assert tuple(_bad_frames()) == BAD_FRAME_NAMES
    msgs, counter, publishes = _bad_frames()[name]
    probe, t = live.probe, live.stamp()
    before = probe.counter(counter)
    probe.publish(_restamped(msgs, t))
    # Wait until the node has counted it (a good frame sent at once could replace it: latest wins).
    assert probe.spin_until(lambda: probe.counter(counter) > before, 20), \
        f"{name}: {counter!r} not counted in diagnostics: {probe.latest_diagnostics()}"
    live.good_frame_processed(t + 0.5)
    outcome = probe.objects_at(t)
    assert (outcome is not None) == publishes, f"{name}: published {outcome}"
    if outcome is not None:
        assert [(o.category, o.status) for o in outcome.objects] == EXPECTED_STATUSES[name]
        for pose in outcome.objects:
            assert_valid_object(pose, DEFAULT_OBJECTS[pose.instance_id - 1].pixels)
            # TOO_FEW_POINTS sits on the ray through the mask centroid, never silently at the origin.
            assert pose.pose.position.z > 0, pose
        assert probe.transforms_at(t) == {} or all(o.status == 0 for o in outcome.objects)


def test_rejections_are_logged_once_per_warning_period(live):
    for _ in range(3):
        msgs, counter, _ = _bad_frames()["wrong encoding"]
        before = live.probe.counter(counter)
        live.probe.publish(_restamped(msgs, live.stamp()))
        assert live.probe.spin_until(lambda: live.probe.counter(counter) > before, 20)
    log = live.log()
    assert log.count("frame rejected: color image has encoding") == 1 and "Traceback" not in log


def test_malformed_inputs_are_explained_in_the_log(live):
    for name in ("wrong encoding", "4K image", "depth in another frame", "unknown class id", "huge finite depth"):
        msgs, counter, _ = _bad_frames()[name]
        if live.probe.counter(counter) == 0:
            test_malformed_input_is_counted_and_the_next_frame_processed(live, name)
    log = live.log()
    for text in ["frame rejected: color image has encoding 'mono8'", "3840x2160 = 8294400 pixels",
                 "depth image is in frame 'camera_depth_optical_frame'", "class id 17",
                 "outside depth.min..depth.max = 0.1..10 m"]:
        assert text in log, f"{text!r} not logged:\n{log}"


def test_missing_camera_info_is_warned_and_the_node_goes_on(live):
    probe, t = live.probe, live.stamp()
    for index in range(8):
        probe.publish(make_frame(t + index * 0.2), skip=(2,))
        probe.spin_until(lambda: False, 0.2)
    live.good_frame_processed(t + 5.0)
    assert "no camera_info message on /color/camera_info" in live.log()
    assert probe.counter("issue: missing_camera_info") > 0


def test_incomplete_inputs_are_warned_naming_the_missing_input(live):
    """Sets whose depth image never comes (as large best-effort images lost by DDS): counted per
    input, WARN in diagnostics, and a warning that names the input and the docs section."""
    probe, t = live.probe, live.stamp()
    for index in range(4):
        probe.publish(make_frame(t + index * 0.1), skip=(1,))
    live.good_frame_processed(t + 2.0)  # newer stamps: the depth-less sets are final
    assert probe.spin_until(lambda: probe.counter("issue: incomplete_depth") >= 4, 10), probe.latest_diagnostics()
    assert probe.counter("input sets incomplete") >= 4 and probe.counter("issue: incomplete_color") == 0
    # (sets of an earlier test that lacked another input may be named in the same line)
    assert re.search(r"inputs arrive incomplete: frame sets without [^\n]*depth on /depth/image \(\d+ sets\)[^\n]*"
                     r'docs/dds.md, "Large images over DDS"', live.log()), live.log()


def test_repeated_and_backwards_stamps_are_warned_and_counted(live):
    probe = live.probe
    t = live.stamp()
    live.good_frame_processed(t)
    before = probe.counter("issue: stamp_repeated")
    color, depth, info, seg = make_frame(t, objects=(ObjectSpec(6, (5, 40), (5, 60)),))  # other content, same stamp
    probe.publish((color, depth, info, seg))
    assert probe.spin_until(lambda: probe.counter("issue: stamp_repeated") > before, 10), probe.latest_diagnostics()
    assert len([m for m in probe.objects if m.header.stamp == stamp_msg(t)]) == 1  # the repeat is not published
    before = probe.counter("issue: stamp_backwards")
    probe.publish(make_frame(t - 5.0))
    assert probe.spin_until(lambda: probe.counter("issue: stamp_backwards") > before, 10)
    log = live.log()
    assert "repeats the previous frame's stamp: skipped" in log and "time went backwards" in log
    live.good_frame_processed(live.stamp())


def test_refine_mode_changes_at_run_time(live):
    probe = live.probe
    result = probe.set_parameter("/dualposenet", "refine.mode", "feature")
    assert result.successful, result.reason
    try:
        live.good_frame_processed(live.stamp(), refined=True)
    finally:
        assert probe.set_parameter("/dualposenet", "refine.mode", "none").successful
    live.good_frame_processed(live.stamp())
    assert "refine mode none -> feature" in live.log()


def test_invalid_run_time_values_are_refused_with_the_rule(live):
    result = live.probe.set_parameter("/dualposenet", "refine.mode", "everything")
    assert not result.successful and "refine.mode must be none or encoder or feature" in result.reason
    result = live.probe.set_parameter("/dualposenet", "seed", -1)
    assert not result.successful and "seed" in result.reason
    live.good_frame_processed(live.stamp())


def test_diagnostics_report_state_and_totals(live):
    live.good_frame_processed(live.stamp())
    probe = live.probe
    count = len(probe.diagnostics)
    assert probe.spin_until(lambda: len(probe.diagnostics) > count + 1, 5)
    values = probe.latest_diagnostics()
    assert int(values["frames processed"]) >= 2 and values["frames failed"] == "0"
    assert (values["refine mode"], values["TF"], values["device"]) == ("none", "/tf", "cpu")
    assert float(values["input rate (Hz)"]) >= 0
    # The test's stamps (a few thousand seconds after 1970) are stale: counted, not averaged into the latency.
    assert values["latency median (ms)"] == "n/a" and int(values["issue: stale_stamp"]) >= 2


def test_diagnostics_count_the_subscribers_the_objects_publisher_reaches(live):
    """The node's own count (what a demo or benchmark waits for before sending frames): the probe,
    then the probe and one more subscription, then the probe again."""
    from dualposenet_ros.msg import ObjectPoseArray

    probe = live.probe

    def reported(count: int) -> bool:
        return probe.latest_diagnostics().get("objects subscribers") == str(count)

    assert probe.spin_until(lambda: reported(1), 10), probe.latest_diagnostics()
    extra = probe.node.create_subscription(ObjectPoseArray, "/dualposenet/objects", lambda msg: None, 10)
    try:
        assert probe.spin_until(lambda: reported(2), 10), probe.latest_diagnostics()
    finally:
        probe.node.destroy_subscription(extra)
    assert probe.spin_until(lambda: reported(1), 10), probe.latest_diagnostics()


def test_the_node_logs_its_dds_profile_and_no_traceback(live):
    log = live.log()
    assert f"Fast DDS profile for large images: {shipped_profile()}" in log
    assert "Traceback" not in log and "TF output disabled" not in log


# -- nodes of their own ----------------------------------------------------------------------------


@pytest.mark.timeout(240)
def test_real_pipeline_with_config_file_and_approximate_sync(ros_env, rclpy_context, tmp_path):
    require_rclpy()
    import torch

    overrides = reliable_input_overrides("/robot")
    overrides["qos_overrides./robot/camera/rgb.subscription.reliability"] = "reliable"
    node = _start_node(ros_env, write_tiny_checkpoint(tmp_path / "tiny"), "--params-file",
                       str(REPO / "config" / "dualposenet.yaml"), "-r", "__ns:=/robot", "-r", "color/image:=camera/rgb",
                       "-p", "device:=cuda", "-p", "sync.mode:=approximate", "-p", "frame_prefix:=obj_",
                       *[arg for name, value in overrides.items() for arg in ("-p", f"{name}:={value}")])
    probe = Probe(rclpy_context, node_namespace="/robot/dualposenet", input_topics=(
        "/robot/camera/rgb", "/robot/depth/image", "/robot/color/camera_info", "/robot/segmentation"))

    def frame(t: float) -> tuple[Any, ...]:
        color, depth, info, seg = make_frame(t)
        depth.header.stamp = stamp_msg(t + 0.01)  # 10 ms apart: matched only approximately
        return color, depth, info, seg

    try:
        result = probe.wait_for_objects(1.0, timeout=90, republish=frame(1.0))
        assert node.poll() is None
        _assert_objects(result, 1.0)
        # frame_prefix obj_ is resolved in the node's namespace /robot, like a relative topic name.
        assert probe.spin_until(lambda: probe.transforms_at(1.0).keys() == {
            (FRAME_ID, f"robot/obj_{_tf_name(o)}") for o in result.objects}, 10)
        assert_tf_publisher(probe.node, "dualposenet")
    finally:
        probe.close()
        output = stop(node)
        print(output)  # shown by pytest when the test fails
    if not torch.cuda.is_available():
        assert "device 'cuda' requested but CUDA is not available: using the CPU" in output
    assert "ready: model" in output and "approximate (slop 0.05 s)" in output
    assert "color /robot/camera/rgb (reliable)" in output and "TF /tf" in output


@pytest.mark.timeout(120)
def test_estimator_failure_is_logged_counted_and_the_next_frame_processed(rclpy_context, capfd):
    require_rclpy()
    node = in_process_node(rclpy_context, {**reliable_input_overrides(), "diagnostics_period": 0.25},
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


@pytest.mark.timeout(60)
def test_silent_inputs_make_diagnostics_warn(rclpy_context):
    require_rclpy()
    node = in_process_node(rclpy_context, {"diagnostics_period": 0.1, "input_timeout": 0.3})
    probe = Probe(rclpy_context)
    probe.executor.add_node(node)
    try:
        assert probe.spin_until(lambda: probe.latest_diagnostics().get("__level__") == 1, 10), \
            probe.latest_diagnostics()
        assert "inputs silent" in probe.latest_diagnostics()["__message__"]
    finally:
        probe.close()
        node.destroy_node()


@pytest.mark.timeout(120)
def test_invalid_parameters_stop_the_executable_with_a_clear_message(ros_env):
    require_rclpy()
    process = subprocess.run([sys.executable, str(EXECUTABLE), "--ros-args", "-p", "device:=gpu", "-p",
                              "sync.slop:=-1.0", "-p", "checkpoint:=/nonexistent/model", "-p", "min_points:=many",
                              "-p", "seed:=-1", "-p", "refine.encoder.iterations:=20000"],
                             env=ros_env, capture_output=True, text=True, timeout=100)
    output = process.stdout + process.stderr
    assert process.returncode == 1, output
    for text in ["min_points must be an integer, got 'many'", "device must be auto, cpu, cuda or cuda:N, got 'gpu'",
                 "sync.slop must be in [1e-06, 10]", "seed must be in [0, 2.14748e+09], got -1",
                 "refine.encoder.iterations must be in [0, 1000], got 20000"]:
        assert text in output, output
    assert "Traceback" not in output


@pytest.mark.timeout(180)
def test_sigint_abandons_a_frame_in_progress_and_the_node_exits(ros_env, rclpy_context, tmp_path):
    """A frame refining for a long time (no time budget, 1000 iterations) is abandoned at Ctrl-C: the
    node exits cleanly and says so, and the frame is not published. Encoder refinement: with the
    tiny model its 1000 iterations take about 16 s on an idle core (feature refinement's 1.4 s, a
    window a busy test process could miss: the frame was published before the Ctrl-C)."""
    require_rclpy()
    probe = Probe(rclpy_context)  # before the node: a probe that cannot start leaves no node behind
    process = _start_node(ros_env, write_tiny_checkpoint(tmp_path / "tiny"), *RELIABLE_INPUTS, "-p", "device:=cpu",
                          "-p", "refine.mode:=encoder", "-p", "refine.time_budget:=0.0",
                          "-p", "refine.encoder.iterations:=1000", "-p", "refine.encoder.threshold:=0.0",
                          "-p", "diagnostics_period:=0.1", log=tmp_path / "node.log")
    try:
        # The frame is in progress once the synchroniser handed it over and nothing was published.
        received = probe.spin_until(lambda: probe.publish(make_frame(1.0)) or probe.counter("frames received") >= 1, 90)
        assert received, (tmp_path / "node.log").read_text()
        assert probe.objects_at(1.0) is None
        process.send_signal(2)
        process.wait(timeout=60)
    finally:
        probe.close()
        stop(process)
    log = (tmp_path / "node.log").read_text()
    assert process.returncode == 0, log
    assert "shutting down: the frame in progress was abandoned" in log and "Traceback" not in log, log
