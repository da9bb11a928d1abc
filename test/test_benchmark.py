"""The benchmark command: inference options side by side, and the layering of its modules."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dualposenet_ros.cli import main


def test_core_benchmark_imports_no_ros_code() -> None:
    """``benchmark`` is core; only ``benchmark --node`` (routed by the CLI) needs rclpy."""
    code = ("import sys, dualposenet_ros.benchmarks.benchmark, dualposenet_ros.benchmarks.option_benchmark; "
            "print(sorted(m for m in sys.modules if m.startswith(('rclpy', 'dualposenet_ros.ros'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"


def test_node_flag_is_routed_to_the_node_benchmark(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["benchmark", "--node", "--help"])
    assert exit_info.value.code == 0
    assert "--viewers" in capsys.readouterr().out  # an option only the node benchmark has


def test_options_are_timed_and_compared_with_fp32(tmp_path) -> None:
    out = tmp_path / "options.json"
    assert main(["benchmark", "--options", "int8", "bf16", "--instances", "2", "--repeats", "1", "--device", "cpu",
                 "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert list(report["differences"]) == ["fp32", "int8", "bf16"]  # fp32 is always the reference
    assert {(row["option"], row["instances"]) for row in report["frames"]} == {
        ("fp32", 2), ("int8", 2), ("bf16", 2)}
    assert all(row["ms_median"] >= row["ms_min"] > 0 for row in report["frames"])
    assert report["differences"]["fp32"]["rotation_deg_max"] == 0
    assert report["differences"]["int8"]["rotation_deg_max"] > 0  # the quantised layers really ran


def test_accuracy_of_each_option_on_fresh_synthetic_images(tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    out = tmp_path / "accuracy.json"
    assert main(["benchmark", "--options", "onnxruntime", "--instances", "1", "--repeats", "1", "--device", "cpu",
                 "--accuracy", "2", "--json", str(out)]) == 0
    accuracy = json.loads(out.read_text())["accuracy"]
    assert set(accuracy) == {"fp32", "onnxruntime"}
    for result in accuracy.values():
        assert set(result["map"]) == {"3D25", "3D50", "3D75", "5deg2cm", "5deg5cm", "10deg2cm", "10deg5cm"}
        assert result["difference"]["instances"] > 0
    # Same float32 network in another runtime: the same poses, so the same mAP.
    assert accuracy["onnxruntime"]["difference"]["rotation_deg_max"] < 0.01
    assert accuracy["onnxruntime"]["map"] == pytest.approx(accuracy["fp32"]["map"], abs=0.5)
