"""Segmentation formats (InstanceSegmentation, Detection2DArray + masks, yolo_msgs) read into the same
instances; class_map; the mask store of the detections_masks format. Messages only, no DDS
(test_segmentation_formats_dds.py runs them between processes)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from ros_node_support import small_synthetic_frame
from ros_support import require_modules, require_rclpy


def _read(frame, segmentation_format: str, label_masks: bool = False, max_instances: int | None = None):
    from builtin_interfaces.msg import Time

    from dualposenet_ros.ros.segmentation_inputs import InstanceReader
    from dualposenet_ros.ros_tools.synthetic_camera import frame_messages

    messages = frame_messages(frame, Time(sec=7, nanosec=11), segmentation_format=segmentation_format,
                              label_masks=label_masks)
    reader = InstanceReader(segmentation_format, mask_timeout=0.0)
    for mask in messages.masks:
        reader.masks.add(mask)
    return reader.read(messages.segmentation, frame.depth_mm.shape, None, max_instances), messages


@pytest.fixture(scope="module")
def frame():
    require_rclpy()
    require_modules("vision_msgs.msg", "yolo_msgs.msg")
    frame = small_synthetic_frame()
    assert len(frame.instances) >= 3
    return frame


@pytest.mark.parametrize("label_masks", [False, True])
def test_detections_with_masks_give_the_instances_of_instance_segmentation(frame, label_masks):
    (reference, reference_issues), _ = _read(frame, "instance_segmentation")
    (instances, issues), messages = _read(frame, "detections_masks", label_masks)
    assert len(messages.masks) == (1 if label_masks else len(frame.instances))
    assert issues == reference_issues == []
    assert [(i.instance_id, i.class_id, i.score) for i in instances] == [
        (i.instance_id, i.class_id, i.score) for i in reference]
    for got, expected in zip(instances, reference):
        np.testing.assert_array_equal(got.mask, expected.mask)
    # The mug is called "cup" on the wire, as COCO segmenters say it.
    names = [d.results[0].hypothesis.class_id for d in messages.segmentation.detections]
    assert "mug" not in names and ("cup" in names) == any(i.class_id == 6 for i in reference)


def test_yolo_polygons_are_rasterised_to_the_masks(frame):
    (reference, _), _ = _read(frame, "instance_segmentation")
    (instances, issues), messages = _read(frame, "yolo_ros")
    assert issues == []
    assert [(i.instance_id, i.class_id) for i in instances] == [(i.instance_id, i.class_id) for i in reference]
    for got, expected in zip(instances, reference):
        # The outline of the largest part, filled: the mask itself unless occlusion split it or left holes.
        iou = np.count_nonzero(got.mask & expected.mask) / np.count_nonzero(got.mask | expected.mask)
        assert iou > 0.9, iou
    assert all(d.mask.width == 160 and d.mask.height == 120 for d in messages.segmentation.detections)


def test_yolo_polygon_of_another_image_size_is_scaled():
    require_modules("yolo_msgs.msg")
    from yolo_msgs.msg import Detection, DetectionArray, Point2D

    from dualposenet_ros.ros.segmentation_inputs import DEFAULT_CLASS_MAP, instances_from_yolo, parse_class_map

    detection = Detection(class_id=41, class_name="cup", score=0.8)
    detection.mask.width, detection.mask.height = 320, 240
    detection.mask.data = [Point2D(x=x, y=y) for x, y in ((40, 40), (120, 40), (120, 100), (40, 100))]
    class_map = parse_class_map(DEFAULT_CLASS_MAP)
    (instance,), issues = instances_from_yolo(DetectionArray(detections=[detection]), (120, 160), class_map)
    rows, cols = np.nonzero(instance.mask)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (20, 50, 20, 60)
    assert (instance.class_id, instance.score, instance.instance_id, issues) == (6, pytest.approx(0.8), 1, [])


def test_class_map_maps_names_and_ids_and_unmapped_classes_are_counted():
    require_modules("vision_msgs.msg")
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesis, ObjectHypothesisWithPose

    from dualposenet_ros.ros.compat import load_cv_bridge
    from dualposenet_ros.ros.segmentation_inputs import instances_from_detections, parse_class_map

    def detection(name: str, score: float = 0.9) -> Detection2D:
        return Detection2D(results=[ObjectHypothesisWithPose(hypothesis=ObjectHypothesis(class_id=name, score=score))])

    labels = np.zeros((20, 30), np.uint8)
    for k in range(1, 5):
        labels[2:6, 5 * k:5 * k + 3] = k
    mask = load_cv_bridge().CvBridge().cv2_to_imgmsg(labels, encoding="mono8")
    class_map = parse_class_map("cup: mug, 39: bottle")
    msg = Detection2DArray(detections=[detection("person"), detection("39"), detection("CUP"), detection("bowl", 1.5)])
    instances, issues = instances_from_detections(msg, [mask], labels.shape, class_map)
    assert [(i.instance_id, i.class_id) for i in instances] == [(2, 1), (3, 6)]
    assert [(issue.reason, issue.level) for issue in issues] == [("unmapped_class", "info"),
                                                                 ("invalid_score", "warning")]
    assert "person" in issues[0].message
    for bad in ("cup", "cup: spoon", ": mug"):
        with pytest.raises(ValueError, match="class_map entry"):
            parse_class_map(bad)
    assert parse_class_map("")["mug"] == 6  # category names always map to themselves


def test_wrong_mask_count_and_size_are_input_errors():
    require_rclpy()
    require_modules("vision_msgs.msg")
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesis, ObjectHypothesisWithPose

    from dualposenet_ros.ros.compat import load_cv_bridge
    from dualposenet_ros.ros.conversions import InputError
    from dualposenet_ros.ros.segmentation_inputs import instances_from_detections, parse_class_map

    bridge = load_cv_bridge().CvBridge()
    hypothesis = ObjectHypothesisWithPose(hypothesis=ObjectHypothesis(class_id="can", score=1.0))
    msg = Detection2DArray(detections=[Detection2D(results=[hypothesis])] * 3)
    binary = bridge.cv2_to_imgmsg(np.full((10, 10), 255, np.uint8), encoding="mono8")
    with pytest.raises(InputError) as error:
        instances_from_detections(msg, [binary, binary], (10, 10), parse_class_map(""))
    assert error.value.reason == "mask_count"
    with pytest.raises(InputError) as error:
        instances_from_detections(msg, [binary], (10, 12), parse_class_map(""))
    assert error.value.reason == "size_mismatch"
    with pytest.raises(InputError) as error:
        instances_from_detections(msg, [], (10, 10), parse_class_map(""))
    assert error.value.reason == "missing_masks"


def test_mask_store_waits_for_every_mask_of_its_stamp_or_one_label_image():
    require_rclpy()
    from builtin_interfaces.msg import Time
    from std_msgs.msg import Header

    from dualposenet_ros.ros.compat import load_cv_bridge
    from dualposenet_ros.ros.segmentation_inputs import MaskStore, is_label_image

    bridge = load_cv_bridge().CvBridge()

    def image(value: int, sec: int, encoding: str = "mono8"):
        array = np.zeros((4, 4), np.uint16 if encoding == "mono16" else np.uint8)
        array[0, 0] = value
        return bridge.cv2_to_imgmsg(array, encoding=encoding, header=Header(stamp=Time(sec=sec)))

    store = MaskStore()
    store.add(image(255, 1))
    late = threading.Timer(0.2, lambda: store.add(image(255, 1)))
    late.start()
    masks = store.take(Time(sec=1), 2, timeout=10.0)  # returns when the second mask arrives
    late.join()
    assert len(masks) == 2
    assert store.take(Time(sec=1), 2, timeout=0.0) == []  # taken, not kept
    store.add(image(3, 2))  # a label image: value 3 of 3 detections
    assert len(store.take(Time(sec=2), 3, timeout=10.0)) == 1
    assert is_label_image(image(1, 0, "mono16"), 3) and not is_label_image(image(255, 0), 3)
    assert not is_label_image(image(1, 0), 3)  # 0/1 masks: one per detection
    assert len(store.take(Time(sec=3), 2, timeout=0.1)) == 0  # nothing came


def test_max_instances_keeps_the_largest_masks(frame):
    (reference, _), _ = _read(frame, "instance_segmentation", max_instances=2)
    (instances, issues), _ = _read(frame, "yolo_ros", max_instances=2)
    assert [i.instance_id for i in instances] == [i.instance_id for i in reference]
    assert [issue.reason for issue in issues] == ["too_many_instances"]


def test_class_map_applies_to_instance_segmentation_names_and_ids():
    """A segmenter publishing InstanceSegmentation in its own classes: names (COCO "cup") and ids
    ("41: mug") go through class_map like every other format; a bare NOCS id stays what it is."""
    require_rclpy()
    from ros_node_support import ObjectSpec, make_frame

    from dualposenet_ros.ros.segmentation_inputs import InstanceReader, parse_class_map

    objects = (ObjectSpec(41, (0, 5), (0, 5)), ObjectSpec(41, (5, 10), (0, 5)), ObjectSpec(2, (10, 15), (0, 5)),
               ObjectSpec(60, (15, 20), (0, 5)), ObjectSpec(1, (20, 25), (0, 5)), ObjectSpec(77, (25, 30), (0, 5)))
    seg = make_frame(objects=objects)[3]
    seg.class_names = ["cup", "", "", "dining table", "cup", ""]
    reader = InstanceReader("instance_segmentation", parse_class_map("cup: mug, 41: mug"))
    instances, issues = reader.read(seg, (48, 64))
    assert [(i.instance_id, i.class_id) for i in instances] == [(1, 6), (2, 6), (3, 2)]
    assert sorted((issue.reason, issue.message.split(" has ")[0]) for issue in issues) == [
        ("class_name_mismatch", "instance 5"), ("unknown_class_id", "instance 6"), ("unmapped_class", "detection 4")]
    # Without the id entry, 41 is neither a NOCS id nor mapped: only its name can say what it is.
    instances, _ = InstanceReader("instance_segmentation", parse_class_map("cup: mug")).read(seg, (48, 64))
    assert [(i.instance_id, i.class_id) for i in instances] == [(1, 6), (3, 2)]
