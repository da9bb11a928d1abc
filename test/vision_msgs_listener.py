"""Separate-process subscriber written against plain vision_msgs (nothing of this package): prints
each Detection3DArray it receives on the topic given as argument as one JSON line."""

import json
import sys

import rclpy
from rclpy.executors import ExternalShutdownException
from vision_msgs.msg import Detection3DArray


def _line(msg: Detection3DArray) -> str:
    detections = []
    for d in msg.detections:
        pose, center = d.results[0].pose.pose, d.bbox.center
        detections.append({
            "id": d.id, "class_id": d.results[0].hypothesis.class_id, "score": d.results[0].hypothesis.score,
            "position": [pose.position.x, pose.position.y, pose.position.z],
            "orientation": [pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w],
            "center": [center.position.x, center.position.y, center.position.z,
                       center.orientation.x, center.orientation.y, center.orientation.z, center.orientation.w],
            "size": [d.bbox.size.x, d.bbox.size.y, d.bbox.size.z]})
    return json.dumps({"stamp": [msg.header.stamp.sec, msg.header.stamp.nanosec], "frame_id": msg.header.frame_id,
                       "detections": detections})


def main() -> None:
    rclpy.init()
    node = rclpy.create_node("plain_vision_msgs_listener")
    node.create_subscription(Detection3DArray, sys.argv[1], lambda msg: print(_line(msg), flush=True), 50)
    print("listening", flush=True)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


if __name__ == "__main__":
    main()
