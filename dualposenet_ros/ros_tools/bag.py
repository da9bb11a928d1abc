"""Record and replay rosbag2 bags with the ``rosbags`` library (rosbag2_py is not on PyPI).

Messages are written and published as they travel (serialised CDR bytes): recording subscribes
with ``raw=True`` and replaying publishes the recorded bytes, so a replayed frame is bit-identical
to the recorded one and nothing is deserialised on the way. Bags are rosbag2 version 9, MCAP
storage by default (what ``ros2 bag record`` writes on Jazzy and Kilted), readable by
``ros2 bag play`` / ``ros2 bag info``; the message definitions of this package's interfaces are
embedded, so tools without the package can still decode them.

* :class:`BagWriter` / :func:`read_messages` / :func:`bag_topics`: files only, no rclpy;
* :class:`BagRecorder`: subscribes to topics on an rclpy node and writes what arrives, stamped
  with the receive time (as ``ros2 bag record`` does);
* :class:`BagPlayer`: publishes a bag's messages from a thread at their recorded timing
  (optionally faster or slower) and remembers when it published each header stamp, so a consumer
  can measure latency against the replay instead of the original recording.
"""

from __future__ import annotations

import importlib
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "GROUND_TRUTH_TOPIC",
    "INPUT_TOPICS",
    "OBJECTS_TOPIC",
    "BagError",
    "BagMessage",
    "BagPlayer",
    "BagRecorder",
    "BagWriter",
    "bag_topics",
    "header_stamp_ns",
    "message_class",
    "read_messages",
    "typestore",
]

INPUT_TOPICS: tuple[tuple[str, str], ...] = (
    ("/color/image", "sensor_msgs/msg/Image"),
    ("/depth/image", "sensor_msgs/msg/Image"),
    ("/color/camera_info", "sensor_msgs/msg/CameraInfo"),
    ("/segmentation", "dualposenet_ros/msg/InstanceSegmentation"),
)
"""The dualposenet node's inputs (default names, root namespace) and their types."""
GROUND_TRUTH_TOPIC = ("/synthetic_camera/ground_truth", "dualposenet_ros/msg/ObjectPoseArray")
OBJECTS_TOPIC = ("/dualposenet/objects", "dualposenet_ros/msg/ObjectPoseArray")

PACKAGE = "dualposenet_ros"


class BagError(RuntimeError):
    """A bag cannot be written or read (the message says why)."""


# -- types --------------------------------------------------------------------------------------


def _message_definition_dir() -> Path:
    """Where this package's ``.msg`` files are: the installed share directory, else the sources."""
    candidates = []
    try:
        from ament_index_python.packages import get_package_share_directory

        candidates.append(Path(get_package_share_directory(PACKAGE)) / "msg")
    except Exception:  # not installed with ament, or ament_index_python missing
        pass
    candidates.append(Path(__file__).resolve().parents[2] / "msg")
    for candidate in candidates:
        if any(candidate.glob("*.msg")):
            return candidate
    raise BagError(f"cannot find the {PACKAGE} message definitions (looked in {', '.join(map(str, candidates))})")


_typestore: Any = None


def typestore() -> Any:
    """The ``rosbags`` type store of ROS 2 Kilted plus this package's interfaces."""
    global _typestore
    if _typestore is None:
        from rosbags.typesys import Stores, get_types_from_msg, get_typestore

        store = get_typestore(Stores.ROS2_KILTED)
        types: dict[str, Any] = {}
        for path in sorted(_message_definition_dir().glob("*.msg")):
            types.update(get_types_from_msg(path.read_text(), f"{PACKAGE}/msg/{path.stem}"))
        store.register(types)
        _typestore = store
    return _typestore


def message_class(type_name: str) -> type:
    """The rclpy message class of ``pkg/msg/Name`` (or ``pkg/Name``)."""
    parts = type_name.split("/")
    if len(parts) == 2:
        parts = [parts[0], "msg", parts[1]]
    if len(parts) != 3:
        raise BagError(f"not a message type name: {type_name!r}")
    package, kind, name = parts
    try:
        return getattr(importlib.import_module(f"{package}.{kind}"), name)
    except (ImportError, AttributeError) as error:
        raise BagError(f"message type {type_name} is not available here: {error}") from None


def header_stamp_ns(data: bytes | memoryview) -> int | None:
    """``header.stamp`` (ns) of a serialised message whose first field is a ``std_msgs/Header``
    (CDR: 4 bytes encapsulation, then sec int32 and nanosec uint32); None if too short."""
    if len(data) < 12:
        return None
    endian = "<" if data[1] & 1 else ">"
    sec, nanosec = struct.unpack_from(endian + "iI", data, 4)
    return sec * 1_000_000_000 + nanosec


# -- files --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BagMessage:
    topic: str
    msgtype: str
    timestamp: int  # ns (receive time at recording)
    data: bytes  # serialised CDR


class BagWriter:
    """Writes serialised messages into a new rosbag2 directory (version 9, MCAP or sqlite3)."""

    def __init__(self, path: str | Path, storage: str = "mcap") -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.path = Path(path)
        if self.path.exists():
            raise BagError(f"{self.path} already exists: rosbag2 writes a new directory (remove it or pick another)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        plugins = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
        if storage not in plugins:
            raise BagError(f"unknown storage {storage!r}: mcap or sqlite3")
        self._writer = Writer(self.path, version=9, storage_plugin=plugins[storage])
        self._writer.open()
        self._connections: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.closed = False

    def add_topic(self, topic: str, msgtype: str) -> None:
        with self._lock:
            if topic not in self._connections:
                self._connections[topic] = self._writer.add_connection(topic, msgtype, typestore=typestore())
                self.counts[topic] = 0

    def write(self, topic: str, timestamp_ns: int, data: bytes | memoryview) -> None:
        with self._lock:
            if self.closed:
                return
            self._writer.write(self._connections[topic], int(timestamp_ns), bytes(data))
            self.counts[topic] += 1

    def close(self) -> None:
        with self._lock:
            if not self.closed:
                self.closed = True
                self._writer.close()

    def __enter__(self) -> "BagWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _reader(path: str | Path) -> Any:
    from rosbags.rosbag2 import Reader

    path = Path(path)
    if not (path / "metadata.yaml").is_file():
        raise BagError(f"{path} is not a rosbag2 directory (no metadata.yaml)")
    return Reader(path)


def bag_topics(path: str | Path) -> dict[str, tuple[str, int]]:
    """topic -> (message type, message count) of a bag."""
    with _reader(path) as reader:
        return {name: (info.msgtype, int(info.msgcount)) for name, info in reader.topics.items()}


def read_messages(path: str | Path, topics: Iterable[str] | None = None) -> Iterator[BagMessage]:
    """The bag's messages in time order (only ``topics`` if given)."""
    wanted = None if topics is None else set(topics)
    with _reader(path) as reader:
        connections = [c for c in reader.connections if wanted is None or c.topic in wanted]
        for connection, timestamp, data in reader.messages(connections=connections):
            yield BagMessage(connection.topic, connection.msgtype, int(timestamp), bytes(data))


def deserialize(message: BagMessage) -> Any:
    """The rclpy message of a :class:`BagMessage`."""
    from rclpy.serialization import deserialize_message

    return deserialize_message(message.data, message_class(message.msgtype))


# -- rclpy --------------------------------------------------------------------------------------


def _default_qos() -> Any:
    from rclpy.qos import QoSProfile

    return QoSProfile(depth=50)  # reliable, volatile: matches reliable and best-effort publishers...


class BagRecorder:
    """Records ``topics`` ((name, type name) pairs) received by ``node`` into a new bag.

    Subscriptions are reliable (keep last 50), which also receive from reliable publishers only:
    a best-effort publisher (``qos`` argument) needs a best-effort profile."""

    def __init__(self, node: Any, path: str | Path, topics: Sequence[tuple[str, str]], qos: Any = None,
                 storage: str = "mcap") -> None:
        self.writer = BagWriter(path, storage)
        self.path = self.writer.path
        self._subscriptions = []
        qos = qos or _default_qos()
        for topic, msgtype in topics:
            self.writer.add_topic(topic, msgtype)
            callback = (lambda data, topic=topic: self.writer.write(topic, time.time_ns(), data))
            self._subscriptions.append(node.create_subscription(message_class(msgtype), topic, callback, qos, raw=True))
        self._node = node

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.writer.counts)

    def close(self) -> None:
        """Stop recording and finish the bag (idempotent)."""
        for subscription in self._subscriptions:
            self._node.destroy_subscription(subscription)
        self._subscriptions = []
        self.writer.close()


@dataclass
class PlaybackResult:
    published: int = 0
    stamps: dict[str, dict[int, float]] = field(default_factory=dict)  # topic -> header stamp ns -> wall time


class BagPlayer:
    """Publishes a bag's messages on ``node`` from a background thread at the recorded timing.

    ``exclude``: topics not published (e.g. a recorded node output, which the live node publishes
    again). ``rate``: playback speed factor. :attr:`result` maps each published header stamp to the
    wall-clock time (``time.time()``) it went out."""

    def __init__(self, node: Any, path: str | Path, exclude: Iterable[str] = (), rate: float = 1.0,
                 qos: Any = None) -> None:
        if not rate > 0:
            raise BagError(f"playback rate must be > 0, got {rate}")
        self.path = Path(path)
        self.rate = float(rate)
        excluded = set(exclude)
        self.topics = {topic: msgtype for topic, (msgtype, _) in bag_topics(self.path).items() if topic not in excluded}
        qos = qos or _default_qos()
        self.publishers = {topic: node.create_publisher(message_class(msgtype), topic, qos)
                           for topic, msgtype in self.topics.items()}
        self.result = PlaybackResult(stamps={topic: {} for topic in self.topics})
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def subscribed(self, topics: Iterable[str] | None = None) -> bool:
        """Whether every publisher (or those of ``topics``) has a subscriber."""
        names = self.publishers if topics is None else topics
        return all(self.publishers[name].get_subscription_count() > 0 for name in names if name in self.publishers)

    def start(self, on_published: Callable[[str, int | None, float], None] | None = None) -> None:
        self._thread = threading.Thread(target=self._play, args=(on_published,), name="bag-player", daemon=True)
        self._thread.start()

    def _play(self, on_published: Callable[[str, int | None, float], None] | None) -> None:
        try:
            start_wall, first = None, None
            for message in read_messages(self.path, self.topics):
                if self._stop.is_set():
                    return
                if start_wall is None:
                    start_wall, first = time.monotonic(), message.timestamp
                due = start_wall + (message.timestamp - first) * 1e-9 / self.rate
                while not self._stop.is_set():
                    remaining = due - time.monotonic()
                    if remaining <= 0:
                        break
                    self._stop.wait(min(remaining, 0.1))
                if self._stop.is_set():
                    return
                self.publishers[message.topic].publish(message.data)
                now = time.time()
                stamp = header_stamp_ns(message.data)
                if stamp is not None:
                    self.result.stamps[message.topic].setdefault(stamp, now)
                self.result.published += 1
                if on_published is not None:
                    on_published(message.topic, stamp, now)
        except BaseException as error:
            self.error = error

    @property
    def finished(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=5.0)
