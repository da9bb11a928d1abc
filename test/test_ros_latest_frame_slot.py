"""The latest-frame-wins slot between subscription callbacks and the inference thread."""

from __future__ import annotations

import threading
import time

from dualposenet_ros.ros.latest_frame_slot import LatestFrameSlot


def test_newer_frame_replaces_the_waiting_one_and_counts_a_drop():
    slot = LatestFrameSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True
    assert slot.put(3) is True
    assert slot.pending
    assert slot.get(timeout=0) == 3
    assert not slot.pending
    assert (slot.received, slot.dropped, slot.taken) == (3, 2, 1)


def test_get_times_out_when_empty():
    slot = LatestFrameSlot()
    started = time.monotonic()
    assert slot.get(timeout=0.05) is None
    assert time.monotonic() - started >= 0.04


def test_close_wakes_a_waiting_consumer_and_ignores_later_frames():
    slot = LatestFrameSlot()
    results = []
    consumer = threading.Thread(target=lambda: results.append(slot.get()))
    consumer.start()
    time.sleep(0.05)
    slot.close()
    consumer.join(timeout=30)  # a bound on waiting only: it returns as soon as the consumer ends
    assert not consumer.is_alive() and results == [None]
    assert slot.put(1) is False and slot.get(timeout=0) is None and slot.received == 0


def test_slow_consumer_always_gets_the_newest_frame_and_nothing_is_lost_silently():
    slot = LatestFrameSlot()
    taken = []

    def consume():
        while (item := slot.get()) is not None:
            taken.append(item)
            time.sleep(0.005)  # slower than the producer

    consumer = threading.Thread(target=consume)
    consumer.start()
    for index in range(200):
        slot.put(index)
        time.sleep(0.0005)
    deadline = time.monotonic() + 30  # bounds on waiting only, generous for a loaded machine
    while slot.pending and time.monotonic() < deadline:
        time.sleep(0.005)
    slot.close()
    consumer.join(timeout=30)
    assert taken == sorted(taken) and taken[-1] == 199  # in order, and the last frame is processed
    assert slot.received == 200 and slot.taken == len(taken) and slot.dropped == 200 - len(taken)
    assert slot.dropped > 0
