"""Late segmentation matched with cached images: the same answers with the message_filters stand-in
and the real package (where installed): late, too late, waiting, incomplete, approximate, memory."""

from __future__ import annotations

import pytest

from ros_support import Source, stamped

RATE = 15.0


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Rig:
    """Three image sources and a segmentation source feeding one matcher; records its frames."""

    def __init__(self, mf, window=2.0, cache_size=1000, slop=None, now=None):
        from dualposenet_ros.ros.segmentation_sync import SegmentationMatcher

        self.images = [Source(), Source(), Source()]
        self.segmentation = Source()
        self.frames = []
        self.clock = Clock()
        self.now = now
        self.matcher = SegmentationMatcher(mf, self.images, self.segmentation, lambda *m: self.frames.append(
            tuple(x.tag for x in m)), window=window, cache_size=cache_size, slop=slop,
            now_ns=None if now is None else (lambda: int(self.now * 1e9)), clock=self.clock)

    def camera(self, seconds, skip=()):
        for index, (source, role) in enumerate(zip(self.images, ("c", "d", "i"))):
            if index not in skip:
                source.emit(stamped(seconds, f"{role}{seconds:g}"))

    def segment(self, seconds):
        self.segmentation.emit(stamped(seconds, f"s{seconds:g}"))


def frame_times(count, start=0.0):
    return [round(start + k / RATE, 6) for k in range(count)]


def test_a_segmentation_one_second_late_gets_its_own_images(mf):
    rig = Rig(mf, now=0.0)
    times = frame_times(60)
    for t in times:
        rig.camera(t)
        rig.now = t
        late = round(t - 1.0, 6)
        if late in times[::8]:  # a 2 Hz segmenter answering 1 s after the frame
            rig.segment(late)
    expected = [(f"c{t:g}", f"d{t:g}", f"i{t:g}", f"s{t:g}") for t in times[::8] if t <= times[-1] - 1.0]
    assert rig.frames == expected and len(expected) >= 6
    events = rig.matcher.collect()
    assert events.too_late == 0 and not events.incomplete
    assert events.latencies == pytest.approx([1.0] * len(expected), abs=1e-6)
    assert rig.matcher.complete == len(expected)


def test_a_segmentation_later_than_the_window_is_counted_too_late(mf):
    rig = Rig(mf, window=0.5)
    for t in frame_times(30):
        rig.camera(t)
    rig.segment(frame_times(30)[3])
    assert rig.frames == []
    events = rig.matcher.collect()
    assert events.too_late == 1 and not events.incomplete and rig.matcher.too_late == 1


def test_a_segmentation_before_its_images_waits_for_them(mf):
    rig = Rig(mf)
    rig.segment(1.0)
    rig.images[0].emit(stamped(1.0, "c1"))
    rig.images[2].emit(stamped(1.0, "i1"))
    assert rig.frames == [] and rig.matcher.waiting == 1
    rig.images[1].emit(stamped(1.0, "d1"))
    assert rig.frames == [("c1", "d1", "i1", "s1")] and rig.matcher.waiting == 0


def test_a_lost_image_makes_the_set_incomplete_naming_the_input(mf):
    rig = Rig(mf)
    rig.camera(1.0, skip=(1,))
    rig.segment(1.0)
    assert rig.matcher.waiting == 1  # the depth image may still come
    rig.camera(1.1)
    assert rig.frames == [] and rig.matcher.waiting == 0
    assert rig.matcher.collect().incomplete == {"depth": 1} and rig.matcher.incomplete == 1


def test_a_segmentation_that_waits_longer_than_the_window_is_given_up(mf):
    rig = Rig(mf, window=2.0)
    rig.camera(1.0, skip=(2,))
    rig.segment(1.0)
    rig.clock.now += 1.0
    assert rig.matcher.collect().incomplete == {}
    rig.clock.now += 1.5
    assert rig.matcher.collect().incomplete == {"camera_info": 1} and rig.matcher.waiting == 0


def test_memory_is_bounded_by_the_window_and_unsegmented_images_are_counted(mf):
    rig = Rig(mf, window=2.0)
    times = frame_times(150)
    for t in times:
        rig.camera(t)
    for cache in rig.matcher.caches:  # the images of the last 2 s only
        assert len(cache.cache_msgs) == int(2.0 * RATE) + 1
    assert rig.matcher.not_segmented == len(times) - (int(2.0 * RATE) + 1)
    rig.segment(times[-5])
    assert rig.frames == [(f"c{times[-5]:g}", f"d{times[-5]:g}", f"i{times[-5]:g}", f"s{times[-5]:g}")]
    rig.clock.now += 2.5  # no image for longer than the window: every cached image is final
    rig.matcher.collect()
    assert rig.matcher.not_segmented == len(times) - 1 and all(not c.cache_msgs for c in rig.matcher.caches)


def test_the_cache_size_caps_memory_too(mf):
    rig = Rig(mf, window=10.0, cache_size=5)
    for t in frame_times(20):
        rig.camera(t)
    assert [len(cache.cache_msgs) for cache in rig.matcher.caches] == [5, 5, 5]
    rig.segment(frame_times(20)[2])
    assert rig.matcher.collect().too_late == 1


def test_approximate_takes_the_nearest_image_within_the_slop(mf):
    rig = Rig(mf, slop=0.02)
    for t, tag in ((0.99, "a"), (1.005, "b"), (1.03, "c")):
        for source, role in zip(rig.images, "cdi"):
            source.emit(stamped(t, f"{role}{tag}"))
    rig.segment(1.0)
    assert rig.frames == [("cb", "db", "ib", "s1")]
    rig.segment(1.1)
    for source, role in zip(rig.images, "cdi"):
        source.emit(stamped(1.2, f"{role}x"))
    assert len(rig.frames) == 1 and rig.matcher.collect().incomplete == {"color": 1, "depth": 1, "camera_info": 1}


def test_time_going_back_starts_the_caches_anew(mf):
    rig = Rig(mf, window=2.0)
    for t in frame_times(45, start=100.0):
        rig.camera(t)
    rig.camera(10.0)  # a bag restarted
    rig.segment(10.0)
    assert rig.frames == [("c10", "d10", "i10", "s10")]
    assert all(len(cache.cache_msgs) == 1 for cache in rig.matcher.caches)


def test_a_lost_image_long_after_the_previous_frame_is_incomplete_not_late(mf):
    rig = Rig(mf, window=2.0)
    rig.camera(1.0)
    rig.camera(10.0, skip=(1,))  # the camera paused; this frame's depth is lost
    rig.segment(10.0)
    rig.camera(10.1)
    events = rig.matcher.collect()
    assert events.incomplete == {"depth": 1} and events.too_late == 0


def test_frames_pushed_out_by_the_memory_cap_are_counted_and_forgotten(mf):
    """With a cap tighter than the window, every frame no segmentation claimed is counted once and
    the matcher keeps no record of it (a node that runs all day)."""
    rig = Rig(mf, window=10.0, cache_size=5)
    times = frame_times(200)
    for t in times:
        rig.camera(t)
    assert rig.matcher.not_segmented == len(times) - 5
    assert len(rig.matcher._unclaimed) == 5 and all(len(cache.cache_msgs) == 5 for cache in rig.matcher.caches)
    rig.segment(times[1])  # its images were pushed out by the cap: too late, not lost
    events = rig.matcher.collect()
    assert events.too_late == 1 and not events.incomplete


def test_a_segmentation_of_a_frame_before_the_node_started_is_not_a_loss(mf):
    """A segmenter already running when the node starts answers for frames the node never saw: not
    incomplete (no 'lost images' warning), not too late."""
    rig = Rig(mf)
    for t in frame_times(10, start=1.0):
        rig.camera(t)
    rig.segment(0.5)
    events = rig.matcher.collect()
    assert rig.frames == [] and not events.incomplete and events.too_late == 0
    assert rig.matcher.waiting == 0
