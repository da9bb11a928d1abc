"""``dualposenet demo`` end to end (camera and node processes over DDS), record + replay giving
the same estimates, the failure message when the node never publishes, and ``benchmark --node``."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from dualposenet_ros.evaluation.scoring import PoseRecord
from ros_support import processes_in_domain, require_rclpy

SMALL = ["--width", "320", "--height", "240"]


def demo(args: list[str], env: dict[str, str], timeout: float = 150) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dualposenet_ros.cli", "demo", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def estimates_by_stamp(out: Path) -> dict[int, list[dict]]:
    report = json.loads((out / "estimates.json").read_text())
    return {frame["stamp_ns"]: frame["estimates"] for frame in report["frames"]}


@pytest.mark.timeout(300)
def test_demo_records_and_a_replay_gives_the_same_estimates(tmp_path: Path, ros_env, ros_domain_id):
    require_rclpy()
    import cv2
    from ros_node_support import write_tiny_checkpoint

    from dualposenet_ros.ros_tools import bag

    checkpoint = str(write_tiny_checkpoint(tmp_path / "tiny"))
    live_out, replay_out, bag_dir = tmp_path / "live", tmp_path / "replay", tmp_path / "bag"
    common = ["--checkpoint", checkpoint, "--device", "cpu", "--domain-id", str(ros_domain_id)]
    live = demo([*common, *SMALL, "--frames", "4", "--rate", "3", "--out", str(live_out), "--record", str(bag_dir)],
                ros_env)
    assert live.returncode == 0, live.stdout + live.stderr
    assert not processes_in_domain(ros_domain_id)

    # The table, the summary and the rates are printed; the PNGs are written.
    text = live.stdout
    for part in ("rot err", "trans err", "size err", "Summary over", "within thresholds", "Rate:", "latency"):
        assert part in text, text
    assert f"ROS_DOMAIN_ID={ros_domain_id}" in text
    for name in ("debug_image.png", "comparison.png"):
        picture = cv2.imread(str(live_out / name))
        assert picture is not None and picture.shape == (240, 320, 3), name
    live_estimates = estimates_by_stamp(live_out)
    assert live_estimates
    truth_ids = {frame["stamp_ns"]: [(g["instance_id"], g["class_id"]) for g in frame["ground_truth"]]
                 for frame in json.loads((live_out / "estimates.json").read_text())["frames"]}
    for stamp, estimates in live_estimates.items():
        assert [(e["instance_id"], e["class_id"]) for e in estimates] == truth_ids[stamp]

    # The bag holds the four inputs and the ground truth of every frame, and the estimates.
    topics = bag.bag_topics(bag_dir)
    for topic, _ in [*bag.INPUT_TOPICS, bag.GROUND_TRUTH_TOPIC]:
        assert topics[topic][1] == 4, topics
    assert topics[bag.OBJECTS_TOPIC[0]][1] == len(live_estimates)

    replay = demo([*common, "--replay", str(bag_dir), "--out", str(replay_out)], ros_env)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert not processes_in_domain(ros_domain_id)
    replay_estimates = estimates_by_stamp(replay_out)
    # The node keeps the newest frame when busy, so the two runs may estimate different frames; the
    # first frame (node idle) and the last (always kept) are estimated in both.
    shared = sorted(set(live_estimates) & set(replay_estimates))
    assert min(live_estimates) in shared and max(live_estimates) in shared, (sorted(live_estimates),
                                                                             sorted(replay_estimates))
    for stamp in shared:
        a, b = live_estimates[stamp], replay_estimates[stamp]
        assert [(e["instance_id"], e["class_id"], e["status"]) for e in a] == [
            (e["instance_id"], e["class_id"], e["status"]) for e in b]
        for x, y in zip(a, b):
            np.testing.assert_allclose(x["position"], y["position"], atol=1e-6)
            np.testing.assert_allclose(x["size"], y["size"], atol=1e-6)
            rx, ry = PoseRecord.from_dict(x), PoseRecord.from_dict(y)
            if rx.symmetric:  # the tracker turns these about y towards the frames it saw before
                np.testing.assert_allclose(rx.rotation[:, 1], ry.rotation[:, 1], atol=1e-5)
            else:
                dot = abs(float(np.dot(x["orientation_xyzw"], y["orientation_xyzw"])))
                assert dot == pytest.approx(1.0, abs=1e-6)
    report = json.loads((replay_out / "estimates.json").read_text())["replay_vs_recorded"]
    assert report["common_frames"] >= 1 and report["max_translation_m"] < 1e-6
    assert "Replay against the estimates recorded in the bag" in replay.stdout


@pytest.mark.timeout(120)
def test_demo_fails_clearly_when_the_node_never_publishes(tmp_path: Path, ros_env, ros_domain_id):
    require_rclpy()
    from ros_node_support import write_tiny_checkpoint

    checkpoint = str(write_tiny_checkpoint(tmp_path / "tiny"))
    result = demo(["--checkpoint", checkpoint, "--device", "cpu", "--domain-id", str(ros_domain_id), *SMALL,
                   "--frames", "2", "--rate", "4", "--timeout", "3", "--out", str(tmp_path / "out"),
                   "--node-param", "publish.objects:=false"], ros_env)
    assert result.returncode != 0
    assert "does not publish /dualposenet/objects (publish.objects is false)" in result.stderr, (
        result.stdout + result.stderr)
    assert "the camera starts" not in result.stdout  # found out before any frame is sent
    assert not processes_in_domain(ros_domain_id)


@pytest.mark.timeout(400)
@pytest.mark.parametrize("segmentation_format", ["detections_masks", "yolo_ros"])
def test_demo_runs_with_each_segmentation_format_and_keeps_identities(tmp_path: Path, ros_env, ros_domain_id,
                                                                      segmentation_format):
    """The shipped model, the camera publishing Detection2DArray + masks or yolo_msgs (mugs named
    "cup"): the node estimates frames in that format and no object changes its track id."""
    require_rclpy()
    out = tmp_path / "out"
    result = demo(["--device", "cpu", "--domain-id", str(ros_domain_id), *SMALL, "--frames", "5", "--rate", "2",
                   "--segmentation-format", segmentation_format, "--out", str(out)], ros_env, timeout=380)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((out / "estimates.json").read_text())
    assert report["settings"]["segmentation_format"] == segmentation_format
    assert report["rates"]["frames_estimated"] >= 3
    assert report["summary"]["matched"] >= 3 * 3 and report["summary"]["missed"] == 0
    assert report["identities"]["objects"] >= 3 and report["identities"]["switches"] == 0, result.stdout
    assert "0 identity switches" in result.stdout
    assert all(e["track_id"] > 0 for frame in report["frames"] for e in frame["estimates"])
    assert not processes_in_domain(ros_domain_id)


class _Graph:
    """The demo's view of the graph: the node subscribes to every input."""

    def get_subscriptions_info_by_topic(self, topic: str) -> list[SimpleNamespace]:
        return [SimpleNamespace(node_name="dualposenet")]


class _Reports:
    """An executor whose every spin delivers the node's next /diagnostics value of its objects subscribers."""

    def __init__(self, collected: Any, reports: list[str | None]) -> None:
        self.collected, self.reports, self.spins = collected, iter(reports), 0

    def spin_once(self, timeout_sec: float) -> None:
        self.spins += 1
        self.collected.objects_subscribers = next(self.reports, self.collected.objects_subscribers)


def test_demo_starts_the_source_only_once_the_node_counts_the_demo_subscribers():
    """The recording demo used to end, now and then, without a single estimate: the node had
    estimated every frame, but published before it had matched the demo's subscribers (discovery is
    per pair of processes; the demo saw the node subscribed, the node learnt of the demo a second
    later). The source now waits for the node's own count on /diagnostics."""
    from dualposenet_ros.ros_tools import demo as demo_module

    node = SimpleNamespace(running=True, returncode=None, log_path="node.log", log_tail=lambda: "")
    collected = demo_module.Collected()
    executor = _Reports(collected, [None, "0", "1", "1", "2"])  # the listener first, the recorder later
    demo_module._wait_for_node_ready(_Graph(), executor, node, collected, subscribers=2, timeout=60)
    assert executor.spins == 5

    collected = demo_module.Collected()
    with pytest.raises(demo_module.DemoError, match="'objects subscribers' 1, not the demo's 2"):
        demo_module._wait_for_node_ready(_Graph(), _Reports(collected, ["1"]), node, collected, 2, timeout=0.3)

    collected = demo_module.Collected()
    executor = _Reports(collected, ["off"])
    with pytest.raises(demo_module.DemoError, match="publish.objects is false"):
        demo_module._wait_for_node_ready(_Graph(), executor, node, collected, 1, timeout=60)
    assert executor.spins == 1


def test_demo_rejects_a_missing_checkpoint_before_starting_anything(tmp_path: Path):
    result = demo(["--checkpoint", str(tmp_path / "nothing"), "--out", str(tmp_path / "out")], dict(os.environ))
    assert result.returncode == 2 and "not found" in result.stderr


@pytest.mark.timeout(180)
def test_node_benchmark_measures_latency_and_throughput(tmp_path: Path, ros_domain_id, monkeypatch):
    require_rclpy()
    from ros_node_support import write_tiny_checkpoint

    from dualposenet_ros.ros_tools.node_benchmark import run_node_benchmark

    for name in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY"):  # --library configures this process as the node does
        monkeypatch.delenv(name, raising=False)
    args = argparse.Namespace(checkpoint=str(write_tiny_checkpoint(tmp_path / "tiny")), device="cpu", repeats=2,
                              json=tmp_path / "node.json", refine=["none", "feature"], preset="compact",
                              node_instances=(1, 3), node_size=(160, 120), domain_id=ros_domain_id, library=True,
                              threads=1)
    assert run_node_benchmark(args) == 0
    report = json.loads((tmp_path / "node.json").read_text())["node_benchmark"]
    rows = report["rows"]
    assert [(r["refine"], r["requested_instances"]) for r in rows] == [
        ("none", 1), ("none", 3), ("feature", 1), ("feature", 3)]
    for row in rows:
        assert row["device"] == "cpu" and row["instances"] >= 1
        assert 0 < row["latency_median_ms"] < 60_000 and row["frames_estimated"] >= 1
        # The library on the same frames, one call per timed node frame, and on the benchmark's frame.
        assert len(row["library_ms_samples"]) == len(row["latency_ms_samples"]) == 2
        assert row["library_ms"] > 0 and row["library_benchmark_frame_ms"] > 0 and row["mask_pixels"] > 0
        assert row["stages_ms"]["inference"] > 0 and row["node_inference_ms"] > 0  # the latter: library's turns
    assert report["threads"] == 1 and report["library"][0]["threads"] == 1
    assert report["library"][0]["omp_wait_policy"] == "PASSIVE"
    assert not processes_in_domain(ros_domain_id)
