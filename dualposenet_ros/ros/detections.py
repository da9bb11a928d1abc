"""``vision_msgs/Detection3DArray`` output: the estimates in the form pose consumers already read.

Isaac ROS FoundationPose, CenterPose and DOPE publish ``Detection3DArray``; the vision_msgs RViz
plugin and most grasp pipelines read it. Per successful (status OK) estimate: ``id`` = its track
id, ``results[0].hypothesis`` = (category name, segmentation score), ``results[0].pose.pose`` =
the pose (covariance unknown: zeros), ``bbox.center`` = the pose, ``bbox.size`` = the box extents
along the object axes (metres). Header: the input's stamp and optical frame, like ``~/objects``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..core.estimates import EstimateStatus, ObjectEstimate
from . import conversions

__all__ = ["detection3d", "detection3d_array"]


def _pose(estimate: ObjectEstimate) -> Any:
    from geometry_msgs.msg import Point, Pose, Quaternion

    x, y, z = (float(v) for v in estimate.translation)
    qx, qy, qz, qw = (float(v) for v in estimate.quaternion_xyzw)
    return Pose(position=Point(x=x, y=y, z=z), orientation=Quaternion(x=qx, y=qy, z=qz, w=qw))


def detection3d(header: Any, estimate: ObjectEstimate) -> Any:
    """One ``vision_msgs/Detection3D`` of an estimate."""
    from geometry_msgs.msg import PoseWithCovariance, Vector3
    from vision_msgs.msg import BoundingBox3D, Detection3D, ObjectHypothesis, ObjectHypothesisWithPose

    pose = _pose(estimate)
    hypothesis = ObjectHypothesisWithPose(
        hypothesis=ObjectHypothesis(class_id=estimate.category, score=float(estimate.score)),
        pose=PoseWithCovariance(pose=pose))
    sx, sy, sz = (float(v) for v in estimate.size)
    box = BoundingBox3D(center=pose, size=Vector3(x=sx, y=sy, z=sz))
    return Detection3D(header=header, results=[hypothesis], bbox=box, id=str(int(estimate.track_id)))


def detection3d_array(stamp: Any, frame_id: str, estimates: Sequence[ObjectEstimate]) -> Any:
    """``vision_msgs/Detection3DArray`` of the status-OK estimates (gated ones are left out)."""
    from vision_msgs.msg import Detection3DArray

    header = conversions.header(stamp, frame_id)
    return Detection3DArray(header=header, detections=[detection3d(header, e) for e in estimates
                                                       if e.status == EstimateStatus.OK])
