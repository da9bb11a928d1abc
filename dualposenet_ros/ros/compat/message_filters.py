"""Stand-in for the ``message_filters`` Python package (used only where it is not installed).

Same interface and matching rules as the ROS 2 package for the filters the node uses:

* :class:`Subscriber` ``(node, msg_type, topic, qos_profile=10, **kwargs)`` passes every message
  of a subscription on to the callbacks registered with :meth:`SimpleFilter.registerCallback`.
* :class:`Cache` ``(filter, cache_size=1, allow_headerless=False)`` keeps the newest
  ``cache_size`` messages of its input in arrival order (``cache_msgs``, with their stamps as
  ``rclpy.time.Time`` in ``cache_times``), passes each on, and answers ``getInterval``,
  ``getElemAfterTime``, ``getElemBeforeTime``, ``getLatestTime``, ``getOldestTime`` and ``getLast``.
* :class:`TimeSynchronizer` ``(filters, queue_size)`` keeps, per input, up to ``queue_size``
  messages keyed by their header stamp (a newer message with the same stamp replaces the older;
  when a queue is full the message with the oldest stamp is dropped) and calls back with one
  message per input as soon as a stamp is present in every queue, oldest stamp first; matched
  messages leave the queues.
* :class:`ApproximateTimeSynchronizer` ``(filters, queue_size, slop, allow_headerless=False)``:
  for each arriving message, the candidates of every other input are its queued messages whose
  stamp is within ``slop`` seconds of the new one, nearest first; the first combination (nearest
  first, the last input varying fastest) whose stamps span strictly less than ``slop`` is emitted
  and removed from the queues. Older unmatched messages stay until they are pushed out.
  Messages without a header are ignored with a warning unless ``allow_headerless``, which stamps
  them with the current ROS time.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from typing import Any

import rclpy.logging
from rclpy.clock import ROSClock
from rclpy.duration import Duration
from rclpy.time import Time

__all__ = ["ApproximateTimeSynchronizer", "Cache", "SimpleFilter", "Subscriber", "TimeSynchronizer"]


def _stamp_nanoseconds(stamp: Any) -> int:
    """Nanoseconds of a ``builtin_interfaces/Time`` message or an ``rclpy.time.Time``."""
    if hasattr(stamp, "nanoseconds"):
        return int(stamp.nanoseconds)
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def _has_stamp(msg: Any) -> bool:
    return hasattr(msg, "header") and hasattr(msg.header, "stamp")


class SimpleFilter:
    """Base of every filter: a list of callbacks called with the filter's output."""

    def __init__(self) -> None:
        self.callbacks: dict[int, tuple[Callable[..., Any], tuple[Any, ...]]] = {}

    def registerCallback(self, cb: Callable[..., Any], *args: Any) -> int:  # noqa: N802 (ROS API name)
        """Call ``cb(*outputs, *args)`` on every output; returns a connection id."""
        connection = len(self.callbacks)
        self.callbacks[connection] = (cb, args)
        return connection

    def signalMessage(self, *msg: Any) -> None:  # noqa: N802 (ROS API name)
        for cb, args in list(self.callbacks.values()):
            cb(*(msg + args))


class Subscriber(SimpleFilter):
    """A subscription as the first filter of a chain; extra keyword arguments go to
    ``create_subscription``. Unknown attributes are looked up on the subscription."""

    def __init__(self, node: Any, msg_type: Any, topic: str, qos_profile: Any = 10, **kwargs: Any) -> None:
        super().__init__()
        self.node = node
        self.topic = topic
        self.sub = node.create_subscription(msg_type, topic, self.callback, qos_profile, **kwargs)

    def callback(self, msg: Any) -> None:
        self.signalMessage(msg)

    def getTopic(self) -> str:  # noqa: N802 (ROS API name)
        return self.topic

    def __getattr__(self, key: str) -> Any:
        if key == "sub":  # not yet set (during construction)
            raise AttributeError(key)
        return getattr(self.sub, key)


class Cache(SimpleFilter):
    """The newest ``cache_size`` messages of an input, for lookups by stamp; passes each message on."""

    def __init__(self, f: Any, cache_size: int = 1, allow_headerless: bool = False) -> None:
        super().__init__()
        self.cache_size = cache_size
        self.cache_msgs: list[Any] = []
        self.cache_times: list[Time] = []
        self.allow_headerless = allow_headerless
        self.connectInput(f)

    def connectInput(self, f: Any) -> None:  # noqa: N802 (ROS API name)
        self.incoming_connection = f.registerCallback(self.add)

    def add(self, msg: Any) -> None:
        if _has_stamp(msg):
            stamp = msg.header.stamp if hasattr(msg.header.stamp, "nanoseconds") else Time.from_msg(msg.header.stamp)
        elif self.allow_headerless:
            stamp = ROSClock().now()
        else:
            rclpy.logging.get_logger("message_filters_cache").warning(
                "cannot cache a message without a header stamp while allow_headerless is False; pass "
                "allow_headerless=True to stamp such messages with the current ROS time")
            return
        self.cache_times.append(stamp)
        self.cache_msgs.append(msg)
        if len(self.cache_msgs) > self.cache_size:  # a ring buffer: the oldest arrival goes
            del self.cache_msgs[0]
            del self.cache_times[0]
        self.signalMessage(msg)

    def getInterval(self, from_stamp: Time, to_stamp: Time) -> list[Any]:  # noqa: N802 (ROS API name)
        """The cached messages stamped from ``from_stamp`` to ``to_stamp`` (inclusive), in arrival order."""
        assert from_stamp <= to_stamp
        return [msg for msg, time in zip(self.cache_msgs, self.cache_times) if from_stamp <= time <= to_stamp]

    def getElemAfterTime(self, stamp: Time) -> Any:  # noqa: N802 (ROS API name)
        """The first cached message (in arrival order) stamped at or after ``stamp``, or None."""
        return next((msg for msg, time in zip(self.cache_msgs, self.cache_times) if time >= stamp), None)

    def getElemBeforeTime(self, stamp: Time) -> Any:  # noqa: N802 (ROS API name)
        """The last cached message (in arrival order) stamped at or before ``stamp``, or None."""
        older = [msg for msg, time in zip(self.cache_msgs, self.cache_times) if time <= stamp]
        return older[-1] if older else None

    def getLatestTime(self) -> Time | None:  # noqa: N802 (ROS API name)
        """The stamp of the last message to arrive, or None."""
        return self.cache_times[-1] if self.cache_times else None

    getLastestTime = getLatestTime  # noqa: N815 (the older, misspelt ROS API name)

    def getOldestTime(self) -> Time | None:  # noqa: N802 (ROS API name)
        """The stamp of the first cached message to arrive, or None."""
        return self.cache_times[0] if self.cache_times else None

    def getLast(self) -> Any:  # noqa: N802 (ROS API name)
        latest = self.getLatestTime()
        return None if latest is None else self.getElemAfterTime(latest)


class TimeSynchronizer(SimpleFilter):
    """Calls back with one message per input whenever all inputs have a message of the same stamp."""

    def __init__(self, fs: Sequence[Any], queue_size: int) -> None:
        super().__init__()
        self.queue_size = queue_size
        self.lock = threading.Lock()
        self.connectInput(fs)

    def connectInput(self, fs: Sequence[Any]) -> None:  # noqa: N802 (ROS API name)
        self.queues: list[dict[int, Any]] = [{} for _ in fs]
        self.input_connections = [f.registerCallback(self.add, queue, index)
                                  for index, (f, queue) in enumerate(zip(fs, self.queues))]

    def _insert(self, queue: dict[int, Any], stamp: int, msg: Any) -> None:
        queue[stamp] = msg
        while len(queue) > self.queue_size:
            del queue[min(queue)]

    def add(self, msg: Any, my_queue: dict[int, Any], my_queue_index: int | None = None) -> None:
        with self.lock:
            self._insert(my_queue, _stamp_nanoseconds(msg.header.stamp), msg)
            common = set(self.queues[0]).intersection(*self.queues[1:])
            matched = [[queue.pop(stamp) for queue in self.queues] for stamp in sorted(common)]
        for msgs in matched:
            self.signalMessage(*msgs)


class ApproximateTimeSynchronizer(TimeSynchronizer):
    """Like :class:`TimeSynchronizer`, but stamps within ``slop`` seconds of each other match."""

    def __init__(self, fs: Sequence[Any], queue_size: int, slop: float, allow_headerless: bool = False) -> None:
        super().__init__(fs, queue_size)
        self.slop = Duration(seconds=slop)
        self.allow_headerless = allow_headerless

    def add(self, msg: Any, my_queue: dict[int, Any], my_queue_index: int | None = None) -> None:
        if _has_stamp(msg):
            stamp = _stamp_nanoseconds(msg.header.stamp)
        elif self.allow_headerless:
            stamp = ROSClock().now().nanoseconds
        else:
            rclpy.logging.get_logger("message_filters_approx").warning(
                "cannot synchronise a message without a header stamp while allow_headerless is False; "
                "pass allow_headerless=True to stamp such messages with the current ROS time")
            return
        slop = self.slop.nanoseconds
        matched = None
        with self.lock:
            self._insert(my_queue, stamp, msg)
            others = range(len(self.queues)) if my_queue_index is None else \
                [index for index in range(len(self.queues)) if index != my_queue_index]
            candidates = []
            for index in others:
                near = sorted(((abs(other - stamp), other) for other in self.queues[index]
                               if abs(other - stamp) <= slop), key=lambda pair: pair[0])
                if not near:
                    return
                candidates.append([other for _, other in near])
            for combination in itertools.product(*candidates):
                stamps = list(combination)
                if my_queue_index is not None:
                    stamps.insert(my_queue_index, stamp)
                if max(stamps) - min(stamps) < slop and all(s in q for q, s in zip(self.queues, stamps)):
                    matched = [queue.pop(s) for queue, s in zip(self.queues, stamps)]
                    break
        if matched is not None:
            self.signalMessage(*matched)
