"""rosbag2 writing, reading and timed replay with the ``rosbags`` library (no DDS needed here;
test_demo.py records and replays over DDS)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from ros_support import require_rclpy


def _messages():
    from rclpy.serialization import serialize_message

    from dualposenet_ros.msg import InstanceSegmentation, ObjectPose, ObjectPoseArray
    from sensor_msgs.msg import Image

    def header(msg, sec, nanosec):
        msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
        msg.header.frame_id = "camera_color_optical_frame"
        return msg

    image = header(Image(height=2, width=3, encoding="rgb8", step=9, data=bytes(range(18))), 10, 5)
    segmentation = header(InstanceSegmentation(class_ids=[6, 2], class_names=["mug", "bowl"], scores=[0.5, 1.0]), 10, 5)
    segmentation.labels = Image(height=1, width=2, encoding="mono16", step=4, data=bytes([1, 0, 2, 0]))
    pose = ObjectPose(category="mug", class_id=6, instance_id=1, score=0.5, scale=0.25, refined=True, num_points=99)
    pose.pose.position.x, pose.pose.orientation.w, pose.size.y = 0.25, 1.0, 0.1
    objects = header(ObjectPoseArray(objects=[pose]), 10, 5)
    return [("/color/image", "sensor_msgs/msg/Image", image),
            ("/segmentation", "dualposenet_ros/msg/InstanceSegmentation", segmentation),
            ("/dualposenet/objects", "dualposenet_ros/msg/ObjectPoseArray", objects)], serialize_message


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_bag_round_trip_keeps_bytes_types_and_order(tmp_path: Path, storage: str):
    require_rclpy()
    from dualposenet_ros.ros_tools import bag

    messages, serialize = _messages()
    path = tmp_path / "bag"
    # (CDR alignment padding is not initialised by the serialiser: compare with the bytes written.)
    written = [serialize(msg) for _, _, msg in messages * 2]
    with bag.BagWriter(path, storage=storage) as writer:
        for topic, msgtype, _ in messages:
            writer.add_topic(topic, msgtype)
        for index, ((topic, _, _), data) in enumerate(zip(messages * 2, written)):
            writer.write(topic, 1_000 + 10 * index, data)
    assert bag.bag_topics(path) == {topic: (msgtype, 2) for topic, msgtype, _ in messages}
    read = list(bag.read_messages(path))
    assert [m.timestamp for m in read] == [1_000 + 10 * i for i in range(6)]
    for stored, (topic, msgtype, msg), data in zip(read, messages * 2, written):
        assert (stored.topic, stored.msgtype) == (topic, msgtype)
        assert stored.data == data
        assert bag.deserialize(stored) == msg
        assert bag.header_stamp_ns(stored.data) == 10 * 1_000_000_000 + 5
    only = list(bag.read_messages(path, ["/segmentation"]))
    assert [m.topic for m in only] == ["/segmentation"] * 2
    with pytest.raises(bag.BagError, match="already exists"):
        bag.BagWriter(path)


def test_bag_embeds_definitions_other_tools_can_decode(tmp_path: Path):
    """The custom interfaces' definitions go into the bag with the hash rosidl computed, so
    `ros2 bag` and rosbags-based tools decode the messages without this package."""
    require_rclpy()
    from rosbags.rosbag2 import Reader
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    from dualposenet_ros.ros_tools import bag

    messages, serialize = _messages()
    path = tmp_path / "bag"
    with bag.BagWriter(path) as writer:
        for topic, msgtype, msg in messages:
            writer.add_topic(topic, msgtype)
            writer.write(topic, 5, serialize(msg))
    with Reader(path) as reader:
        connections = {c.topic: c for c in reader.connections}
        store = get_typestore(Stores.ROS2_KILTED)
        for connection in connections.values():  # only what the bag itself carries
            store.register(get_types_from_msg(connection.msgdef.data, connection.msgtype))
        decoded = {c.topic: store.deserialize_cdr(data, c.msgtype) for c, _, data in reader.messages()}
    pose = decoded["/dualposenet/objects"].objects[0]
    assert (pose.category, pose.class_id, pose.instance_id, pose.refined, pose.num_points) == ("mug", 6, 1, True, 99)
    assert pose.pose.position.x == 0.25
    assert list(decoded["/segmentation"].class_ids) == [6, 2]
    share = bag._message_definition_dir()
    generated = share / "ObjectPoseArray.json"
    if generated.is_file():  # rosidl's own hash of the interface, where installed
        hashes = {h["type_name"]: h["hash_string"] for h in json.loads(generated.read_text())["type_hashes"]}
        assert connections["/dualposenet/objects"].digest == hashes["dualposenet_ros/msg/ObjectPoseArray"]


class _FakePublisher:
    def __init__(self, log, topic):
        self.log, self.topic = log, topic

    def publish(self, data):
        self.log.append((time.monotonic(), self.topic, data))

    def get_subscription_count(self):
        return 1


class _FakeNode:
    """Just enough of an rclpy node for BagRecorder and BagPlayer."""

    def __init__(self):
        self.log, self.subscriptions = [], {}

    def create_publisher(self, msg_type, topic, qos):
        return _FakePublisher(self.log, topic)

    def create_subscription(self, msg_type, topic, callback, qos, raw=False):
        assert raw, "the recorder must take serialised messages"
        self.subscriptions[topic] = callback
        return topic

    def destroy_subscription(self, subscription):
        self.subscriptions.pop(subscription)


def test_recorder_writes_what_arrives_and_player_keeps_the_timing(tmp_path: Path):
    require_rclpy()
    from dualposenet_ros.ros_tools import bag

    messages, serialize = _messages()
    node = _FakeNode()
    recorder = bag.BagRecorder(node, tmp_path / "bag", [(t, m) for t, m, _ in messages])
    for _ in range(2):
        for topic, _, msg in messages:
            node.subscriptions[topic](serialize(msg))
        time.sleep(0.2)
    recorder.close()
    assert recorder.counts == {topic: 2 for topic, _, _ in messages} and not node.subscriptions
    recorded = list(bag.read_messages(tmp_path / "bag"))

    player_node = _FakeNode()
    player = bag.BagPlayer(player_node, tmp_path / "bag", exclude=["/dualposenet/objects"], rate=2.0)
    assert set(player.topics) == {"/color/image", "/segmentation"} and player.subscribed()
    seen = []
    player.start(on_published=lambda topic, stamp, when: seen.append((topic, stamp)))
    deadline = time.monotonic() + 10
    while not player.finished and time.monotonic() < deadline:
        time.sleep(0.01)
    assert player.finished and player.error is None
    published = [(topic, data) for _, topic, data in player_node.log]
    expected = [(m.topic, m.data) for m in recorded if m.topic != "/dualposenet/objects"]
    assert published == expected  # same bytes, same order, excluded topic left out
    gaps = [b[0] - a[0] for a, b in zip(player_node.log, player_node.log[1:])]
    recorded_gaps = [(b.timestamp - a.timestamp) * 1e-9 / 2.0 for a, b in
                     zip([m for m in recorded if m.topic != "/dualposenet/objects"],
                         [m for m in recorded if m.topic != "/dualposenet/objects"][1:])]
    assert sum(gaps) == pytest.approx(sum(recorded_gaps), abs=0.05)  # at twice the recorded speed
    assert player.result.published == 4 and len(seen) == 4
    assert set(player.result.stamps["/color/image"]) == {10 * 1_000_000_000 + 5}


def test_reading_something_else_fails_clearly(tmp_path: Path):
    from dualposenet_ros.ros_tools import bag

    with pytest.raises(bag.BagError, match="not a rosbag2 directory"):
        bag.bag_topics(tmp_path)
    with pytest.raises(bag.BagError, match="not available"):
        bag.message_class("no_such_pkg/msg/Thing")
