"""rosbag2 writing, reading and timed replay with the ``rosbags`` library; the recorder and the
player over real DDS (test_demo.py records and replays with the whole demo)."""

from __future__ import annotations

import copy
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


def _spin_until(executor, condition, timeout: float = 30.0) -> bool:
    """Spin until ``condition()``: a bound on waiting, not on how fast anything is."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
    return condition()


def test_recorder_writes_what_arrives_over_dds(tmp_path: Path, rclpy_context):
    """Real publishers -> the recorder's raw subscriptions -> the bag: every message, in order per
    topic, stamped with its arrival (between its publication and the moment the test saw it recorded)."""
    rclpy = require_rclpy()
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile

    from dualposenet_ros.ros_tools import bag

    messages, _ = _messages()
    recorder_node = rclpy.create_node("bag_recorder_test", context=rclpy_context)
    source = rclpy.create_node("bag_source_test", context=rclpy_context)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(recorder_node)
    try:
        recorder = bag.BagRecorder(recorder_node, tmp_path / "bag", [(t, m) for t, m, _ in messages])
        publishers = {topic: source.create_publisher(type(msg), topic, QoSProfile(depth=50))
                      for topic, _, msg in messages}
        assert _spin_until(executor, lambda: all(p.get_subscription_count() == 1 for p in publishers.values()))
        before = time.time_ns()
        sent = {topic: [] for topic, _, _ in messages}
        for round_ in range(2):
            for topic, _, msg in messages:
                msg.header.stamp.sec = 20 + round_  # the two rounds differ: their order is checked
                publishers[topic].publish(msg)
                sent[topic].append(copy.deepcopy(msg))
        assert _spin_until(executor, lambda: sum(recorder.counts.values()) == 2 * len(messages)), recorder.counts
        after = time.time_ns()
        recorder.close()
        assert recorder.counts == {topic: 2 for topic, _, _ in messages}
        assert list(recorder_node.subscriptions) == []  # closing unsubscribes
    finally:
        executor.shutdown()
        source.destroy_node()
        recorder_node.destroy_node()
    recorded = list(bag.read_messages(tmp_path / "bag"))
    assert len(recorded) == 2 * len(messages)
    for topic, msgtype, _ in messages:
        mine = [m for m in recorded if m.topic == topic]
        assert [m.msgtype for m in mine] == [msgtype] * 2
        assert [bag.deserialize(m) for m in mine] == sent[topic]
    assert all(before <= m.timestamp <= after for m in recorded)  # stamped on arrival


PLAYBACK = [(0.0, "/color/image"), (0.0, "/segmentation"), (0.05, "/dualposenet/objects"),
            (0.15, "/color/image"), (0.15, "/segmentation"), (0.2, "/dualposenet/objects"),
            (0.25, "/color/image"), (0.25, "/segmentation")]
"""(seconds after the first message, topic) of the bag the player test replays: three frames, the
node output recorded between them."""


def test_player_keeps_order_and_never_runs_ahead_of_the_recorded_timing(tmp_path: Path, rclpy_context):
    """A bag written with known timestamps, replayed at half speed to a real subscriber: the player
    waits for a subscriber on every topic, publishes the same bytes in the bag's order, leaves the
    excluded topic out, and no message arrives before its recorded offset / rate after the start.
    (Only the lower bound is checked: how late a message may be depends on the machine.)"""
    rclpy = require_rclpy()
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile

    from dualposenet_ros.ros_tools import bag

    messages, serialize = _messages()
    by_topic = {topic: (msgtype, msg) for topic, msgtype, msg in messages}
    start_ns = 1_000_000_000
    path = tmp_path / "bag"
    written = []
    with bag.BagWriter(path) as writer:
        for topic, msgtype, _ in messages:
            writer.add_topic(topic, msgtype)
        for frame, (offset, topic) in enumerate(PLAYBACK):
            msg = by_topic[topic][1]
            msg.header.stamp.sec = 10 + frame  # a header stamp of its own per message
            data = serialize(msg)
            writer.write(topic, start_ns + round(offset * 1e9), data)
            written.append((offset, topic, data, 10 * 1_000_000_000 + frame * 1_000_000_000 + 5))
    replayed = [entry for entry in written if entry[1] != "/dualposenet/objects"]

    rate = 0.5
    player_node = rclpy.create_node("bag_player_test", context=rclpy_context)
    listener = rclpy.create_node("bag_listener_test", context=rclpy_context)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(listener)
    try:
        player = bag.BagPlayer(player_node, path, exclude=["/dualposenet/objects"], rate=rate)
        assert set(player.topics) == {"/color/image", "/segmentation"}
        assert not player.subscribed()  # nobody listens yet
        arrivals: list[tuple[float, str, bytes]] = []
        for count, topic in enumerate(player.topics, 1):
            listener.create_subscription(bag.message_class(by_topic[topic][0]), topic,
                                         lambda data, topic=topic: arrivals.append((time.monotonic(), topic, data)),
                                         QoSProfile(depth=50), raw=True)
            assert _spin_until(executor, lambda topic=topic: player.subscribed([topic]))
            assert player.subscribed() == (count == len(player.topics))  # every topic, not just one
        published: list[tuple[str, int | None]] = []
        started = time.monotonic()
        player.start(on_published=lambda topic, stamp, when: published.append((topic, stamp)))
        done = _spin_until(executor, lambda: player.finished and len(arrivals) == len(replayed))
        assert done, (arrivals, player.error)
    finally:
        player.stop()
        executor.shutdown()
        listener.destroy_node()
        player_node.destroy_node()
    assert player.error is None and player.result.published == len(replayed)
    assert published == [(topic, stamp) for _, topic, _, stamp in replayed]  # the bag's order, excluded left out
    assert {topic: set(stamps) for topic, stamps in player.result.stamps.items()} == {
        topic: {stamp for _, t, _, stamp in replayed if t == topic} for topic in player.topics}
    for topic in player.topics:  # one writer per topic: DDS keeps its order
        assert [data for _, t, data in arrivals if t == topic] == [data for _, t, data, _ in replayed if t == topic]
    for (offset, topic, data, _) in replayed:
        arrived = next(when for when, t, d in arrivals if t == topic and d == data)
        assert arrived - started >= offset / rate - 1e-6, (topic, offset, arrived - started)


def test_reading_something_else_fails_clearly(tmp_path: Path):
    from dualposenet_ros.ros_tools import bag

    with pytest.raises(bag.BagError, match="not a rosbag2 directory"):
        bag.bag_topics(tmp_path)
    with pytest.raises(bag.BagError, match="not available"):
        bag.message_class("no_such_pkg/msg/Thing")
