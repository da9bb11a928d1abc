"""One fully populated message of each interface, built the same way in every process."""

from __future__ import annotations

import numpy as np


def object_pose():
    from dualposenet_ros.msg import ObjectPose

    msg = ObjectPose(category="mug", class_id=6, instance_id=3, score=0.875)
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = 0.125, -0.25, 0.75
    msg.pose.orientation.x, msg.pose.orientation.y, msg.pose.orientation.z, msg.pose.orientation.w = 0.5, 0.5, 0.5, 0.5
    msg.size.x, msg.size.y, msg.size.z = 0.11, 0.09, 0.08
    msg.scale = float(np.float32(np.linalg.norm([0.11, 0.09, 0.08])))  # float32 field: exact after transport
    msg.consistency_residual = 0.015625
    msg.refined = True
    msg.rotation_symmetric = False
    msg.num_points = 1234
    msg.status = ObjectPose.STATUS_OK
    return msg


def object_pose_array():
    from dualposenet_ros.msg import ObjectPose, ObjectPoseArray

    msg = ObjectPoseArray()
    msg.header.frame_id = "camera_color_optical_frame"
    msg.header.stamp.sec, msg.header.stamp.nanosec = 1700000000, 123456789
    second = ObjectPose(category="laptop", class_id=5, instance_id=1, score=0.5,
                        status=ObjectPose.STATUS_TOO_FEW_POINTS)
    msg.objects = [object_pose(), second]
    return msg


def instance_segmentation():
    from dualposenet_ros.msg import InstanceSegmentation

    labels = np.zeros((6, 8), dtype=np.uint16)
    labels[1:3, 2:5] = 1
    labels[4:6, 5:8] = 2
    msg = InstanceSegmentation()
    msg.header.frame_id = "camera_color_optical_frame"
    msg.header.stamp.sec = 42
    msg.labels.height, msg.labels.width = labels.shape
    msg.labels.encoding = "mono16"
    msg.labels.step = labels.shape[1] * 2
    msg.labels.data = labels.tobytes()
    msg.class_ids = [1, 6]
    msg.class_names = ["bottle", "mug"]
    msg.scores = [0.875, 0.75]
    return msg


SAMPLES = {
    "ObjectPose": object_pose,
    "ObjectPoseArray": object_pose_array,
    "InstanceSegmentation": instance_segmentation,
}
