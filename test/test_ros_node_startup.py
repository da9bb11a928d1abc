"""What the node says at start: misspelt parameters given on the command line or in a YAML file are
warned about with the closest known name (the node starts with its defaults for them), and a
precision the GPU cannot run is refused saying why."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from ros_node_support import write_tiny_checkpoint
from ros_support import require_rclpy, stop

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(180)
def test_the_executable_warns_about_misspelt_parameters_with_the_closest_name(ros_env, tmp_path):
    require_rclpy()
    params = tmp_path / "params.yaml"
    params.write_text("/**/dualposenet:\n  ros__parameters:\n    refine_mode: feature\n    max_instance: 4\n")
    log = tmp_path / "node.log"
    with open(log, "w", encoding="utf-8") as output:
        node = subprocess.Popen(
            [sys.executable, str(REPO / "scripts" / "dualposenet_node"), "--ros-args",
             "-p", f"checkpoint:={write_tiny_checkpoint(tmp_path / 'tiny')}", "-p", "device:=cpu",
             "-p", "sync_mode:=approximate", "-p", "qos_overrides./color/image.subscription.depth:=3",
             "-p", "completely_unrelated:=1", "--params-file", str(params)],
            env=ros_env, stdout=output, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and node.poll() is None and "ready:" not in log.read_text():
                time.sleep(0.2)
        finally:
            stop(node)
    text = log.read_text()
    assert "ready: model" in text, text
    assert "unknown parameter 'sync_mode' ignored: did you mean 'sync.mode'?" in text, text
    assert "unknown parameter 'refine_mode' ignored: did you mean 'refine.mode'?" in text, text
    assert "unknown parameter 'max_instance' ignored: did you mean 'max_instances'?" in text, text
    assert "unknown parameter 'completely_unrelated' ignored: the node has no parameter of that name" in text, text
    assert "unknown parameter 'qos_overrides" not in text and "use_sim_time" not in text, text
    assert "sync exact" in text, text  # the misspelt names change nothing


def test_int8_on_a_gpu_is_refused_saying_why(rclpy_context):
    require_rclpy()
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device: int8 is refused only where the device resolves to a GPU")
    from rclpy.parameter import Parameter

    from dualposenet_ros.ros.node import DualPoseNetNode, StartupError

    with pytest.raises(StartupError, match=r"precision int8 runs on the CPU only .* device auto is cuda.*bf16"):
        DualPoseNetNode(context=rclpy_context, parameter_overrides=[Parameter("precision", value="int8")])

