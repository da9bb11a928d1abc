"""Each segmentation matched with the images of its stamp, however late it comes within a window.

A segmenter answers some time after the camera's frame (Mask R-CNN or YOLO-seg on a CPU: half a
second to a second or more) and, when slower than the camera, for some frames only. An exact
synchroniser with a short queue loses such answers: the images are gone when the segmentation
arrives. Here colour, depth and camera_info each pass through a ``message_filters.Cache`` (the
real package, or the stand-in of :mod:`.compat` where it is not installed) that keeps the images
of the last ``window`` seconds by stamp, the newest image as reference: an older image could only
be matched by a segmentation later than the window allows, so it is dropped (memory stays bounded
by the window, and by ``cache_size`` messages per input). Every segmentation is looked up in the
three caches when it arrives:

* every image found: the set is handed on (``on_frame(color, depth, camera_info, segmentation)``);
  exact stamps, or with ``slop`` the nearest image within ``slop`` seconds of the segmentation's;
* an input has no image as new as the segmentation yet: the segmentation waits for it (retried on
  each image; at most ``window`` seconds and :data:`MAX_WAITING` segmentations);
* its images would have been dropped by now (older than the window, or pushed out by
  ``cache_size``): the segmentation came *too late*;
* otherwise, when newer images arrived but not this stamp's, the set is *incomplete*, counted per
  missing input (a lost image: large best-effort images over DDS).

An image older than the window on arrival means time went back (a bag restarted, a clock jumped):
that input's cache starts anew from it.

Frames (stamps of any image input) dropped before a segmentation claimed them are counted as *not
segmented*: expected when the segmenter is slower than the camera, or its segmentation was lost.
The segmentation latency (arrival on the node's clock minus the stamp) is collected for the
diagnostics. The Cache API has no removal, so pruning edits its ``cache_msgs`` / ``cache_times``
lists, which every ROS 2 message_filters and the stand-in share.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rclpy.clock import ClockType
from rclpy.time import Time

from .conversions import stamp_ns

__all__ = ["IMAGE_INPUTS", "MAX_WAITING", "SegmentationMatcher", "SyncEvents"]

IMAGE_INPUTS = ("color", "depth", "camera_info")
"""The inputs cached for the segmentation, in the order ``on_frame`` receives them."""
MAX_WAITING = 32
"""Segmentations waiting for their images at most; beyond, the oldest is given up (incomplete)."""
_LATENCY_LIMIT = 60.0
"""Seconds: a segmentation latency outside 0..this (another clock, a replayed stamp) is not reported."""


def _time(nanoseconds: int) -> Time:
    """A stamp as the Cache compares it (``Time.from_msg`` of a header: ROS time)."""
    return Time(nanoseconds=nanoseconds, clock_type=ClockType.ROS_TIME)


@dataclass
class SyncEvents:
    """What happened to the segmentations since the previous :meth:`SegmentationMatcher.collect`."""

    incomplete: Counter[str] = field(default_factory=Counter)
    """Missing input -> segmentations whose image of that input never came."""
    too_late: int = 0
    """Segmentations whose images were dropped before they arrived."""
    latencies: list[float] = field(default_factory=list)
    """Seconds from stamp to arrival of each segmentation."""


@dataclass
class _Waiting:
    stamp: int
    msg: Any
    since: float  # monotonic arrival


class SegmentationMatcher:
    """Matches segmentations with cached images (see the module documentation).

    ``images``: the colour, depth and camera_info filters (``message_filters.Subscriber``);
    ``segmentation``: the segmentation's filter; ``mf``: the message_filters module to use;
    ``slop``: None for exact stamps, else seconds; ``now_ns``: the node's clock, for the latency."""

    def __init__(self, mf: Any, images: Sequence[Any], segmentation: Any,
                 on_frame: Callable[..., None], *, window: float, cache_size: int, slop: float | None = None,
                 now_ns: Callable[[], int] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        if len(images) != len(IMAGE_INPUTS):
            raise ValueError(f"expected {len(IMAGE_INPUTS)} image filters ({', '.join(IMAGE_INPUTS)})")
        self.window_ns = int(window * 1e9)
        self.window = float(window)
        self.cache_size = int(cache_size)
        self.slop_ns = None if slop is None else int(slop * 1e9)
        self._on_frame = on_frame
        self._now_ns = now_ns
        self._clock = clock
        self._lock = threading.RLock()
        self._waiting: list[_Waiting] = []
        self._unclaimed: set[int] = set()  # stamps of cached images no segmentation claimed
        self._last_image = clock()
        self._first_seen: list[int | None] = [None] * len(IMAGE_INPUTS)
        self._newest_seen: list[int | None] = [None] * len(IMAGE_INPUTS)
        self._events = SyncEvents()
        self.complete = 0
        """Segmentations matched with their images."""
        self.incomplete = 0
        """Segmentations given up because an image never came."""
        self.too_late = 0
        """Segmentations that came after their images were dropped."""
        self.not_segmented = 0
        """Frames whose images were dropped before a segmentation claimed them."""
        # One place more than the cap: the oldest image leaves through _drop (which counts a frame no
        # segmentation claimed), never silently from inside the Cache.
        self.caches = [mf.Cache(f, self.cache_size + 1) for f in images]
        for index, cache in enumerate(self.caches):
            cache.registerCallback(self._on_image, index)
        segmentation.registerCallback(self._on_segmentation)

    # -- events ---------------------------------------------------------------------------------

    def _on_image(self, msg: Any, index: int) -> None:
        with self._lock:
            self._last_image = self._clock()
            stamp = stamp_ns(msg.header.stamp)
            first, newest = self._first_seen[index], self._newest_seen[index]
            if newest is not None and stamp < newest - self.window_ns:  # time went back: a bag restarted...
                self._drop(index, None, spare=msg)
                first = newest = None
            self._first_seen[index] = stamp if first is None else min(first, stamp)
            self._newest_seen[index] = newest = stamp if newest is None else max(newest, stamp)
            self._unclaimed.add(stamp)
            self._drop(index, newest - self.window_ns)
            times = self.caches[index].cache_times
            if len(times) > self.cache_size:  # the memory cap binds before the window
                self._drop(index, sorted(t.nanoseconds for t in times)[len(times) - self.cache_size])
            ready = self._retry()
        self._hand_on(ready)

    def _on_segmentation(self, msg: Any) -> None:
        stamp = stamp_ns(msg.header.stamp)
        with self._lock:
            if self._now_ns is not None:
                latency = (self._now_ns() - stamp) * 1e-9
                if 0.0 <= latency <= _LATENCY_LIMIT:
                    self._events.latencies.append(latency)
            self._waiting.append(_Waiting(stamp, msg, self._clock()))
            while len(self._waiting) > MAX_WAITING:
                self._give_up(self._waiting.pop(0))
            ready = self._retry()
        self._hand_on(ready)

    def collect(self) -> SyncEvents:
        """Events since the previous call. Segmentations that waited longer than the window are
        given up, and when no image came for a window every cached image is final."""
        with self._lock:
            now = self._clock()
            for entry in [w for w in self._waiting if now - w.since > self.window]:
                self._waiting.remove(entry)
                self._give_up(entry)
            if now - self._last_image > self.window:
                for index in range(len(self.caches)):
                    self._drop(index, None)
            events, self._events = self._events, SyncEvents()
        return events

    @property
    def waiting(self) -> int:
        """Segmentations waiting for their images."""
        with self._lock:
            return len(self._waiting)

    # -- matching -------------------------------------------------------------------------------

    def _lookup(self, index: int, stamp: int) -> tuple[str, Any]:
        """("found", image), ("wait", None), ("late", None), ("before_start", None) or ("missing", None)
        for one input."""
        newest, first = self._newest_seen[index], self._first_seen[index]
        if newest is None or newest < stamp:
            return "wait", None  # this input's image (or a nearer one) may still come
        cache = self.caches[index]
        if self.slop_ns is None:
            found = cache.getInterval(_time(stamp), _time(stamp))
        else:
            found = sorted(cache.getInterval(_time(stamp - self.slop_ns), _time(stamp + self.slop_ns)),
                           key=lambda msg: abs(stamp_ns(msg.header.stamp) - stamp))
        if found:
            return "found", found[0]
        if stamp < min(seen for seen in self._first_seen if seen is not None):
            return "before_start", None  # older than every input's first image: the node was not listening yet
        cached = [t.nanoseconds for t in cache.cache_times]
        evicted = len(cached) >= self.cache_size and min(cached) > stamp  # pushed out by the cache size
        if first is not None and first <= stamp and (stamp < newest - self.window_ns or evicted):
            return "late", None  # its image would have been dropped by now: this came too late to tell
        return "missing", None

    def _retry(self) -> list[tuple[Any, ...]]:
        """Every waiting segmentation whose inputs are settled: matched sets, in arrival order."""
        ready = []
        for entry in list(self._waiting):
            results = [self._lookup(index, entry.stamp) for index in range(len(self.caches))]
            kinds = [kind for kind, _ in results]
            if "wait" in kinds:
                continue
            self._waiting.remove(entry)
            self._claim(entry.stamp, [image for _, image in results if image is not None])
            if "before_start" in kinds:
                continue  # not a loss: the node was not listening yet
            if all(kind == "found" for kind in kinds):
                self.complete += 1
                ready.append((*(image for _, image in results), entry.msg))
            elif "late" in kinds:
                self.too_late += 1
                self._events.too_late += 1
            else:
                self._count_incomplete([IMAGE_INPUTS[i] for i, kind in enumerate(kinds) if kind != "found"])
        return ready

    def _claim(self, stamp: int, images: list[Any]) -> None:
        """The frame of a segmentation is accounted for (matched, incomplete or late): not counted again."""
        self._unclaimed.discard(stamp)
        for image in images:
            self._unclaimed.discard(stamp_ns(image.header.stamp))

    def _give_up(self, entry: _Waiting) -> None:
        """A segmentation that cannot wait any longer: incomplete, missing what has not come."""
        self._claim(entry.stamp, [])
        results = [self._lookup(index, entry.stamp)[0] for index in range(len(self.caches))]
        if "before_start" in results:
            return
        if "late" in results:
            self.too_late += 1
            self._events.too_late += 1
        else:
            self._count_incomplete([IMAGE_INPUTS[i] for i, kind in enumerate(results) if kind != "found"])

    def _count_incomplete(self, missing: list[str]) -> None:
        self.incomplete += 1
        self._events.incomplete.update(missing)

    def _drop(self, index: int, oldest: int | None, spare: Any = None) -> None:
        """Remove the images stamped before ``oldest`` (None: all but the message ``spare``) from one cache."""
        cache = self.caches[index]
        keep = [msg is spare if oldest is None else t.nanoseconds >= oldest
                for msg, t in zip(cache.cache_msgs, cache.cache_times)]
        if all(keep):
            return
        dropped = [t.nanoseconds for t, kept in zip(cache.cache_times, keep) if not kept]
        cache.cache_msgs[:] = [m for m, kept in zip(cache.cache_msgs, keep) if kept]
        cache.cache_times[:] = [t for t, kept in zip(cache.cache_times, keep) if kept]
        for stamp in dropped:
            if stamp in self._unclaimed:
                self._unclaimed.discard(stamp)
                self.not_segmented += 1

    def _hand_on(self, ready: list[tuple[Any, ...]]) -> None:
        for frame in ready:
            self._on_frame(*frame)
