"""A segmenter slower than the camera that answers a second late, over DDS, in every format.

The synthetic camera (its own process) publishes 15 Hz frames and segments only the first frame
of every half second (2 Hz), publishing that segmentation 1.0 s after the frame with the frame's
stamp, as a Mask R-CNN or YOLO-seg node on a CPU does. The node (this process, real pipeline on a
tiny model) keeps its images for ``sync.window`` seconds (default 2 s): at least 90 % of the
segmented frames are estimated, the diagnostics report a segmentation latency of at least the
1.0 s the camera waited, and no segmentation is counted too late. With a window shorter than the
latency the same segmentations are counted too late, and the warning says so.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from ros_node_support import make_frame, tiny_estimator
from ros_support import require_modules, require_rclpy, start_python, stop

SIZE = (160, 120)
CAMERA_RATE = 15.0
SEGMENTATION_RATE = 2.0
LATENCY = 1.0
FRAMES = 90


def _warm_estimator() -> Any:
    """The tiny estimator after one frame: the first one pays torch's start-up, which the latest-frame
    slot would count as dropped frames, not what this test is about."""
    from dualposenet_ros.ros import conversions
    from dualposenet_ros.ros.segmentation_inputs import InstanceReader

    estimator = tiny_estimator()
    frame = conversions.frame_from_messages(*make_frame(), read_instances=InstanceReader("instance_segmentation").read)
    estimator.estimate(frame.frame)
    return estimator


def _stamp(msg: Any) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def _run(context: Any, ros_env: dict[str, str], segmentation_format: str, window: float | None = None) -> dict:
    """Camera (separate process, late 2 Hz segmenter) -> node (this process): which segmented
    frames were estimated, the node's diagnostics values and the camera's log."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.qos import QoSProfile

    from dualposenet_ros.msg import ObjectPoseArray
    from dualposenet_ros.ros.diagnostics import node_status
    from dualposenet_ros.ros.node import DualPoseNetNode
    from dualposenet_ros.ros.parameters import reliable_input_overrides
    from dualposenet_ros.ros_tools.processes import ros_args
    from dualposenet_ros.ros.segmentation_inputs import segmentation_type

    overrides = {**reliable_input_overrides(), "segmentation_format": segmentation_format,
                 "diagnostics_period": 0.25, **({} if window is None else {"sync.window": window})}
    node = DualPoseNetNode(estimator=_warm_estimator(), context=context,
                           parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()])
    listener = rclpy.create_node("late_segmentation_listener", context=context)
    segmented: set[int] = set()
    estimated: set[int] = set()
    statuses: list[dict[str, str]] = []
    listener.create_subscription(segmentation_type(segmentation_format), "/segmentation",
                                 lambda msg: segmented.add(_stamp(msg)), QoSProfile(depth=50))
    listener.create_subscription(ObjectPoseArray, "/dualposenet/objects", lambda msg: estimated.add(_stamp(msg)),
                                 QoSProfile(depth=50))
    frames: set[int] = set()  # also what the camera waits for before its first frame
    listener.create_subscription(ObjectPoseArray, "/synthetic_camera/ground_truth", lambda msg: frames.add(_stamp(msg)),
                                 QoSProfile(depth=50))

    def on_diagnostics(msg: Any) -> None:
        status = node_status(msg, node.get_fully_qualified_name())
        if status is not None:
            statuses.append(status)

    listener.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, QoSProfile(depth=50))
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(listener)
    camera = start_python(["-m", "dualposenet_ros.ros_tools.synthetic_camera", *ros_args({
        "width": SIZE[0], "height": SIZE[1], "rate": CAMERA_RATE, "frames": FRAMES, "max_objects": 3,
        "wait_for_subscribers": 1, "segmentation_format": segmentation_format,
        "segmentation_rate": SEGMENTATION_RATE, "segmentation_latency": LATENCY})],
        ros_env)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and camera.poll() is None:
            executor.spin_once(timeout_sec=0.05)
        until = time.monotonic() + 3.0  # the last estimates and a diagnostics status or two
        while time.monotonic() < until:
            executor.spin_once(timeout_sec=0.05)
    finally:
        output = stop(camera)
        executor.shutdown()
        listener.destroy_node()
        node.destroy_node()
    return {"frames": frames, "segmented": segmented, "estimated": segmented & estimated, "statuses": statuses,
            "camera": output}


def _latency_medians(statuses: list[dict[str, str]]) -> list[float]:
    return [float(s["segmentation latency median (ms)"]) for s in statuses
            if s.get("segmentation latency median (ms)", "n/a") != "n/a"]


@pytest.mark.timeout(400)
@pytest.mark.parametrize("segmentation_format", ["instance_segmentation", "detections_masks", "yolo_ros"])
def test_late_segmentations_are_estimated_with_their_images(rclpy_context, ros_env, segmentation_format):
    require_rclpy()
    if segmentation_format != "instance_segmentation":
        require_modules("vision_msgs.msg", "yolo_msgs.msg")
    run = _run(rclpy_context, ros_env, segmentation_format)
    segmented, estimated, statuses = run["segmented"], run["estimated"], run["statuses"]
    report = (f"{len(run['frames'])} frames, {len(estimated)} of {len(segmented)} segmented frames estimated\n"
              f"{statuses[-1:]}\n{run['camera']}")
    print(report)
    # 6 s of 15 Hz frames segmented at 2 Hz: about 12 segmentations (fewer if the renderer is late)
    assert len(segmented) >= 8, report
    assert len(estimated) >= 0.9 * len(segmented), report
    last = statuses[-1]
    assert int(last["segmentations too late"]) == 0 and int(last["input sets complete"]) >= len(estimated), report
    assert int(last["image sets not segmented"]) > 0, report  # the frames the segmenter skipped
    assert min(_latency_medians(statuses)) >= 1000.0 * LATENCY, report  # published LATENCY s after the stamp


@pytest.mark.timeout(300)
def test_segmentations_later_than_the_window_are_counted_and_warned(rclpy_context, ros_env, capfd):
    require_rclpy()
    run = _run(rclpy_context, ros_env, "instance_segmentation", window=0.25)
    segmented, estimated, statuses = run["segmented"], run["estimated"], run["statuses"]
    log = capfd.readouterr().err
    report = f"{len(estimated)} of {len(segmented)} estimated\n{statuses[-1:]}\n{log[-3000:]}"
    # The window counts from the newest image the node has received, not from the clock: on a busy
    # machine the node can take a segmentation before the images published in the second it waited
    # (other subscriptions, a camera behind its rate), and then it still matches. A window of a
    # quarter of the latency leaves 0.75 s of images for that race; one such segmentation is allowed.
    assert len(segmented) >= 8 and len(estimated) <= 1, report
    assert int(statuses[-1]["segmentations too late"]) >= len(segmented) - 2, report
    assert int(statuses[-1]["input sets incomplete"]) <= 1, report
    assert "segmentations came too late: their images were older than sync.window = 0.25 s" in log, report
