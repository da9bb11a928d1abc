"""Messages <-> pipeline types: every malformed input gives a clear InputError or an issue, and
good inputs become exactly the FrameInput / messages the spec describes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ros_node_support import FRAME_ID, INTRINSICS, ObjectSpec, image_msg, make_frame
from ros_support import require_rclpy


@pytest.fixture(autouse=True)
def _ros():
    require_rclpy()


def conversions():
    from dualposenet_ros.ros import conversions

    return conversions


def read_segmentation(msg, shape, max_pixels=None, max_instances=None, class_map=None):
    """An ``InstanceSegmentation`` read as the node reads it (default class_map)."""
    from dualposenet_ros.ros.segmentation_inputs import InstanceReader, parse_class_map

    mapping = None if class_map is None else parse_class_map(class_map)
    return InstanceReader("instance_segmentation", mapping).read(msg, shape, max_pixels, max_instances)


def frame_from_messages(*msgs, **kwargs):
    return conversions().frame_from_messages(*msgs, read_instances=read_segmentation, **kwargs)


def reasons(issues):
    return [issue.reason for issue in issues]


@pytest.mark.parametrize("color_encoding", ["rgb8", "bgr8"])
@pytest.mark.parametrize("depth_encoding", ["16UC1", "mono16", "32FC1"])
@pytest.mark.parametrize("label_encoding", ["mono8", "mono16", "16UC1", "32SC1"])
def test_good_frame_becomes_frame_input(color_encoding, depth_encoding, label_encoding):
    msgs = make_frame(3.25, color_encoding=color_encoding, depth_encoding=depth_encoding, label_encoding=label_encoding)
    converted = frame_from_messages(*msgs)
    frame = converted.frame
    assert converted.frame_id == FRAME_ID and (converted.stamp.sec, converted.stamp.nanosec) == (3, 250000000)
    assert converted.issues == ()
    assert frame.rgb.shape == (48, 64, 3) and frame.rgb.dtype == np.uint8
    assert tuple(frame.rgb[15, 10]) == (200, 50, 40)  # RGB order whatever the encoding
    assert frame.depth.dtype == np.float32 and frame.depth[15, 10] == pytest.approx(0.6, abs=1e-6)
    assert frame.intrinsics == INTRINSICS
    assert [(i.instance_id, i.class_id, round(i.score, 3), int(i.mask.sum())) for i in frame.instances] == [
        (1, 6, 0.9, 400), (2, 2, 0.8, 480)]


def test_nan_and_negative_depth_become_zero_with_an_info_issue():
    color, _, info, seg = make_frame(depth_encoding="32FC1")
    depth = np.full((48, 64), 1.0, np.float32)
    depth[0, :4] = [np.nan, np.inf, -1.0, 0.0]
    converted = frame_from_messages(color, image_msg(depth, "32FC1"), info, seg)
    assert np.all(np.isfinite(converted.frame.depth)) and np.all(converted.frame.depth[0, :4] == 0)
    (issue,) = converted.issues
    assert issue.reason == "invalid_depth" and issue.level == "info" and "3 NaN" in issue.message


def test_all_zero_depth_is_reported_but_the_frame_goes_on():
    color, _, info, seg = make_frame()
    converted = frame_from_messages(color, image_msg(np.zeros((48, 64), np.uint16), "16UC1"), info, seg)
    assert reasons(converted.issues) == ["no_valid_depth"] and len(converted.frame.instances) == 2


def _modified(index, change):
    msgs = list(make_frame())
    change(msgs[index])
    return msgs


@pytest.mark.parametrize("case, index, change, reason, text", [
    ("mono colour", 0, lambda m: setattr(m, "encoding", "mono8"), "color_encoding", "expected one of rgb8, bgr8"),
    ("yuv colour", 0, lambda m: setattr(m, "encoding", "yuv422"), "color_encoding", "yuv422"),
    ("rgb depth", 1, lambda m: setattr(m, "encoding", "rgb8"), "depth_encoding", "16UC1"),
    ("truncated colour", 0, lambda m: setattr(m, "data", bytes(m.data)[:-5]), "color_layout", "expected step * height"),
    ("short step", 1, lambda m: setattr(m, "step", 10), "depth_layout", "smaller than one row"),
    ("empty colour", 0, lambda m: (setattr(m, "height", 0), setattr(m, "width", 0), setattr(m, "data", b"")),
     "color_empty", "empty"),
    ("no frame id", 0, lambda m: setattr(m.header, "frame_id", ""), None, None),
    ("zero K", 2, lambda m: setattr(m, "k", [0.0] * 9), "camera_info_invalid", "fx = 0.0"),
    ("NaN K", 2, lambda m: setattr(m, "k", [math.nan] * 9), "camera_info_invalid", "finite"),
    ("info size", 2, lambda m: setattr(m, "width", 640), "size_mismatch", "640x48"),
    ("label encoding", 3, lambda m: setattr(m.labels, "encoding", "32FC1"), "labels_encoding", "mono8"),
    ("scores length", 3, lambda m: setattr(m, "scores", [0.5]), "segmentation_arrays", "1 scores for 2 class_ids"),
    ("names length", 3, lambda m: setattr(m, "class_names", ["mug"]), "segmentation_arrays", "class_names"),
])
def test_frame_level_errors(case, index, change, reason, text):
    msgs = _modified(index, change)
    if reason is None:  # frame id: colour empty but camera_info has one -> still fine
        assert frame_from_messages(*msgs).frame_id == FRAME_ID
        msgs[2].header.frame_id = ""
        reason, text = "missing_frame_id", "frame_id"
    with pytest.raises(conversions().InputError, match=text.replace("*", r"\*").replace("(", r"\(")) as error:
        frame_from_messages(*msgs)
    assert error.value.reason == reason, case


def test_mismatched_sizes():
    color, _, info, seg = make_frame()
    small = make_frame(width=32, height=24)
    with pytest.raises(conversions().InputError, match="depth image is 32x24 but the colour image is 64x48") as error:
        frame_from_messages(color, small[1], info, seg)
    assert error.value.reason == "size_mismatch"
    with pytest.raises(conversions().InputError, match="label image is 32x24") as error:
        frame_from_messages(color, make_frame()[1], info, small[3])
    assert error.value.reason == "size_mismatch"


def test_4k_frame_is_rejected_by_max_image_pixels_before_decoding():
    color = image_msg(np.zeros((1, 1, 3), np.uint8), "rgb8")
    color.height, color.width, color.step = 2160, 3840, 3840 * 3  # data not even needed: rejected on the size
    _, depth, info, seg = make_frame()
    with pytest.raises(conversions().InputError, match="3840x2160 = 8294400 pixels.*max_image_pixels") as error:
        frame_from_messages(color, depth, info, seg, max_pixels=4_194_304)
    assert error.value.reason == "image_too_large"


def test_instance_level_issues_skip_only_the_bad_instances():
    objects = (ObjectSpec(6, (0, 5), (0, 5)), ObjectSpec(9, (5, 10), (0, 5)), ObjectSpec(0, (10, 15), (0, 5)),
               ObjectSpec(1, (15, 20), (0, 5), score=1.5), ObjectSpec(3, (20, 25), (0, 5)),
               ObjectSpec(4, (0, 0), (0, 0)))
    color, depth, info, seg = make_frame(objects=objects)
    seg.class_names = ["mug", "", "", "bottle", "laptop", "can"]  # 5: camera named laptop
    labels = np.frombuffer(bytes(seg.labels.data), np.uint16).reshape(48, 64).copy()
    labels[40:, 60:] = 42  # label value without a class entry
    seg.labels = image_msg(labels, "mono16")
    instances, issues = read_segmentation(seg, (48, 64))
    assert [i.instance_id for i in instances] == [1]
    assert sorted(reasons(issues)) == sorted(["label_without_class", "unknown_class_id", "unknown_class_id",
                                              "invalid_score", "class_name_mismatch", "empty_mask"])
    messages = " | ".join(issue.message for issue in issues)
    assert "class id 9" in messages and "(42)" in messages and "'laptop' but class id 3 is 'camera'" in messages


def test_negative_labels_are_ignored_with_an_issue():
    color, depth, info, seg = make_frame(label_encoding="32SC1")
    labels = np.frombuffer(bytes(seg.labels.data), np.int32).reshape(48, 64).copy()
    labels[0, 0] = -3
    seg.labels = image_msg(labels, "32SC1")
    instances, issues = read_segmentation(seg, (48, 64))
    assert len(instances) == 2 and reasons(issues) == ["negative_label"]


def test_all_background_without_instances_is_a_normal_empty_frame():
    converted = frame_from_messages(*make_frame(objects=()))
    assert converted.frame.instances == () and converted.issues == ()


def estimate(instance_id=3, status=0, translation=(0.1, -0.2, 0.7)):
    from scipy.spatial.transform import Rotation

    from dualposenet_ros.core.estimates import EstimateStatus, ObjectEstimate

    return ObjectEstimate(instance_id=instance_id, class_id=6, score=0.75,
                          rotation=Rotation.from_euler("xyz", [10, 20, 30], degrees=True).as_matrix(),
                          translation=np.array(translation), size=np.array([0.1, 0.08, 0.12]),
                          consistency_residual=0.02, num_points=321, refined=True, status=EstimateStatus(status))


def test_object_pose_array_carries_everything():
    from builtin_interfaces.msg import Time

    est = estimate()
    msg = conversions().object_pose_array(Time(sec=5, nanosec=6), FRAME_ID, [est, estimate(4, status=1)])
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id) == (5, 6, FRAME_ID)
    first, second = msg.objects
    assert (first.category, first.class_id, first.instance_id, first.num_points, first.refined, first.status) == (
        "mug", 6, 3, 321, True, 0)
    q = first.pose.orientation
    assert np.allclose([q.x, q.y, q.z, q.w], est.quaternion_xyzw)
    assert np.allclose([first.pose.position.x, first.pose.position.y, first.pose.position.z], est.translation)
    assert np.allclose([first.size.x, first.size.y, first.size.z], est.size)
    assert first.scale == pytest.approx(np.linalg.norm(est.size), rel=1e-6)
    assert second.status == 1


def test_transforms_only_for_good_estimates_with_prefixed_child_frames():
    from builtin_interfaces.msg import Time

    est = estimate()
    (tf,) = conversions().transforms(Time(sec=1), FRAME_ID, [est, estimate(4, status=1)], "dpn/")
    assert tf.header.frame_id == FRAME_ID and tf.child_frame_id == "dpn/mug_3"
    r = tf.transform.rotation
    assert np.allclose([r.x, r.y, r.z, r.w], est.quaternion_xyzw)
    assert np.allclose([tf.transform.translation.x, tf.transform.translation.y, tf.transform.translation.z],
                       est.translation)


def test_markers_boxes_axes_labels_with_lifetime():
    from builtin_interfaces.msg import Time
    from visualization_msgs.msg import Marker

    array = conversions().marker_array(Time(sec=1), FRAME_ID, [estimate(), estimate(4, status=1)], lifetime=1.25)
    first, *rest = array.markers
    assert first.action == Marker.DELETEALL
    assert sorted((m.ns, m.type) for m in rest) == sorted(
        [("boxes", Marker.CUBE), ("box_edges", Marker.LINE_LIST), ("axes", Marker.LINE_LIST),
         ("labels", Marker.TEXT_VIEW_FACING)])
    for marker in rest:
        assert marker.header.frame_id == FRAME_ID and marker.id == 3
        assert (marker.lifetime.sec, marker.lifetime.nanosec) == (1, 250000000)
    by_ns = {m.ns: m for m in rest}
    assert (by_ns["boxes"].scale.x, by_ns["boxes"].scale.y, by_ns["boxes"].scale.z) == pytest.approx((0.1, 0.08, 0.12))
    assert len(by_ns["box_edges"].points) == 24 and len(by_ns["axes"].points) == 6
    assert by_ns["labels"].text == "mug 3 (0.75)"


def test_non_finite_estimates_are_detected():
    assert conversions().estimate_is_finite(estimate())
    assert not conversions().estimate_is_finite(estimate(translation=(np.nan, 0, 1)))


# -- depth range, lens distortion, frame ids, instance cap (issue findings) -----------------------


@pytest.mark.parametrize("encoding, value", [("32FC1", 3e38), ("32FC1", 1e-6), ("16UC1", 65535)])
def test_absurd_finite_depth_is_no_depth_and_the_estimator_runs(encoding, value):
    """Huge finite depth used to fail the frame with an IndexError; 65535 mm or 1 um depth was
    estimated silently as objects 65 m away or behind the camera."""
    from ros_node_support import tiny_estimator

    color, _, info, seg = make_frame(depth_encoding=encoding)
    dtype = np.float32 if encoding == "32FC1" else np.uint16
    depth = image_msg(np.full((48, 64), value, dtype), encoding)
    converted = frame_from_messages(color, depth, info, seg)
    assert not np.any(converted.frame.depth)
    assert reasons(converted.issues) == ["no_valid_depth", "depth_out_of_range"]
    assert "3072 pixels outside depth.min..depth.max = 0.1..10 m" in converted.issues[1].message
    estimates = tiny_estimator().estimate(converted.frame)
    assert [e.status for e in estimates] == [1, 1]  # TOO_FEW_POINTS, never a crash or a wild pose


def test_depth_range_is_configurable_and_keeps_depth_inside_it():
    color, depth, info, seg = make_frame()  # objects at 0.6 and 0.8 m, background 1.5 m
    converted = frame_from_messages(color, depth, info, seg, depth_range=(0.5, 1.0))
    assert converted.frame.depth[15, 10] == pytest.approx(0.6) and converted.frame.depth[0, 0] == 0
    (issue,) = converted.issues
    assert issue.reason == "depth_out_of_range" and issue.level == "info"


def test_depth_frame_must_be_the_colour_frame():
    color, depth, info, seg = make_frame()
    depth.header.frame_id = "camera_depth_optical_frame"
    with pytest.raises(conversions().InputError) as error:
        frame_from_messages(color, depth, info, seg)
    assert error.value.reason == "frame_id_mismatch" and "'camera_depth_optical_frame'" in str(error.value)
    color, depth, info, seg = make_frame()
    info.header.frame_id = "other_camera"
    with pytest.raises(conversions().InputError, match="camera_info is in frame 'other_camera'"):
        frame_from_messages(color, depth, info, seg)


@pytest.mark.parametrize("model, coefficients", [("plumb_bob", [0.1, -0.05, 0.001, 0.002, 0.01]),
                                                 ("rational_polynomial", [0.1, -0.05, 0.001, 0.002, 0.01, 0.02, 0, 0]),
                                                 ("equidistant", [0.05, 0.01, 0.0, 0.0])])
def test_distortion_of_camera_info_is_applied_to_the_back_projected_pixels(model, coefficients):
    """Points of a distorted camera, back-projected, are where the camera saw them (OpenCV's model)."""
    import cv2

    from dualposenet_ros.model.preprocess import backproject

    color, depth, info, seg = make_frame()
    info.distortion_model, info.d = model, [float(c) for c in coefficients]
    converted = frame_from_messages(color, depth, info, seg)
    distortion = converted.frame.distortion
    assert distortion is not None and distortion.model == model
    truth = np.array([[0.05, -0.04, 0.6], [-0.12, 0.1, 0.8], [0.0, 0.0, 1.5]])
    k = np.array(info.k).reshape(3, 3)
    if model == "equidistant":
        pixels, _ = cv2.fisheye.projectPoints(truth[:, None], np.zeros(3), np.zeros(3), k, np.array(coefficients))
    else:
        pixels, _ = cv2.projectPoints(truth, np.zeros(3), np.zeros(3), k, np.array(coefficients, dtype=np.float64))
    x_over_z, y_over_z = distortion.undistort(pixels[:, 0, 0], pixels[:, 0, 1], converted.frame.intrinsics)
    assert np.allclose(np.stack([x_over_z, y_over_z], 1) * truth[:, 2:], truth[:, :2], atol=1e-6)
    # backproject uses it (NOCS camera frame: x and y negated); the pinhole version differs.
    mask = np.zeros((48, 64), bool)
    mask[5, 60] = True
    flat = np.full((48, 64), 1.0, np.float32)
    with_lens, _ = backproject(flat, converted.frame.intrinsics, mask, distortion)
    pinhole, _ = backproject(flat, converted.frame.intrinsics, mask)
    x, y = distortion.undistort(np.array([60]), np.array([5]), converted.frame.intrinsics)
    assert np.allclose(with_lens[0], [-x[0], -y[0], 1.0], atol=1e-6) and not np.allclose(with_lens, pinhole, atol=1e-3)


def test_zero_distortion_is_a_pinhole_and_other_models_are_rejected():
    color, depth, info, seg = make_frame()
    assert frame_from_messages(color, depth, info, seg).frame.distortion is None  # plumb_bob, all zero
    info.distortion_model, info.d = "double_sphere", [0.1, 0.2, 0.0, 0.0, 0.0, 0.0]
    with pytest.raises(conversions().InputError) as error:
        frame_from_messages(color, depth, info, seg)
    assert error.value.reason == "distortion_unsupported" and "rectified images" in str(error.value)
    info.distortion_model, info.d = "plumb_bob", [0.1, 0.2, 0.0]
    with pytest.raises(conversions().InputError, match="needs 4 or 5 or 8 or 12 or 14 finite coefficients"):
        frame_from_messages(color, depth, info, seg)


def test_max_instances_keeps_the_largest_masks_and_counts_the_rest():
    objects = (ObjectSpec(6, (0, 4), (0, 4)), ObjectSpec(2, (10, 30), (8, 28)), ObjectSpec(1, (0, 2), (40, 42)),
               ObjectSpec(4, (30, 45), (40, 60)))
    instances, issues = read_segmentation(make_frame(objects=objects)[3], (48, 64), max_instances=2)
    assert [i.instance_id for i in instances] == [2, 4]  # the two largest, in label order
    (issue,) = issues
    assert (issue.reason, issue.count) == ("too_many_instances", 2) and "2 skipped" in issue.message


def test_a_thousand_small_masks_cost_only_the_kept_ones():
    labels = np.zeros((48, 64), np.uint16)
    labels.flat[: 1000 * 3] = np.repeat(np.arange(1, 1001), 3)
    color, depth, info, seg = make_frame()
    seg.labels = image_msg(labels, "mono16")
    seg.class_ids, seg.class_names, seg.scores = [6] * 1000, [], []
    converted = frame_from_messages(color, depth, info, seg, max_instances=32)
    assert len(converted.frame.instances) == 32 and reasons(converted.issues) == ["too_many_instances"]
    assert converted.issues[0].count == 968
