"""The nodes work on Humble's rclpy API (no pre-set/post-set parameter callbacks).

:mod:`dualposenet_ros.ros.compat.rclpy_api` emulates the missing callbacks there. Checked twice:
the same callbacks and the same sequence of parameter changes give the same calls and results on
the installed rclpy and on a node that hides the newer methods; and, on an rclpy with those methods
deleted in every process (``test/humble_api/sitecustomize.py``), the real ``dualposenet_node``
executable estimates a frame and takes, coerces and refuses parameter changes made over the
parameter services, and ``dualposenet demo`` (synthetic camera + node, recording a bag) runs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ros_node_support import DEFAULT_OBJECTS, Probe, make_frame, write_tiny_checkpoint
from ros_support import require_rclpy, start_python, stop

TEST_DIR = Path(__file__).resolve().parent
EXECUTABLE = TEST_DIR.parent / "scripts" / "dualposenet_node"


def humble_env(ros_env: dict[str, str], log: Path) -> dict[str, str]:
    """``ros_env`` for processes that run on Humble's rclpy API, logging their command lines to ``log``."""
    path = os.pathsep.join([str(TEST_DIR / "humble_api"), ros_env.get("PYTHONPATH", "")])
    return {**ros_env, "PYTHONPATH": path, "DUALPOSENET_HUMBLE_API_LOG": str(log)}


def _get_double_parameter(probe: Probe, node_name: str, name: str) -> float | None:
    """A double parameter of another node read over its parameter service (None: not a double)."""
    from rcl_interfaces.msg import ParameterType
    from rclpy.parameter_client import AsyncParameterClient

    client = AsyncParameterClient(probe.node, node_name)
    assert probe.spin_until(lambda: client.services_are_ready(), 10), "parameter services not ready"
    future = client.get_parameters([name])
    assert probe.spin_until(future.done, 10), "get_parameters timed out"
    (value,) = future.result().values
    return value.double_value if value.type == ParameterType.PARAMETER_DOUBLE else None


def _recording_node(context: Any, humble: bool) -> tuple[Any, list[tuple[str, Any]]]:
    """A node with a float and a string parameter whose three callbacks record their calls."""
    from rcl_interfaces.msg import SetParametersResult
    from rclpy.node import Node
    from rclpy.parameter import Parameter

    from dualposenet_ros.ros.compat.rclpy_api import add_set_parameters_callbacks, has_native_set_parameters_callbacks

    class HumbleNode(Node):
        """The installed rclpy's node, without the methods Humble lacks."""

        def __getattribute__(self, name: str) -> Any:
            if name in ("add_pre_set_parameters_callback", "add_post_set_parameters_callback"):
                raise AttributeError(name)
            return super().__getattribute__(name)

    calls: list[tuple[str, Any]] = []
    node = (HumbleNode if humble else Node)("humble_api_test" if humble else "native_api_test", context=context)
    assert has_native_set_parameters_callbacks(node) is not humble
    node.declare_parameter("rate", 1.0)
    node.declare_parameter("mode", "none")

    def pre_set(parameters: list[Any]) -> list[Any]:
        calls.append(("pre", [(p.name, p.value) for p in parameters]))
        out = []
        for p in parameters:
            if p.name == "rate" and p.type_ == Parameter.Type.INTEGER:
                p = Parameter("rate", Parameter.Type.DOUBLE, float(p.value))
            if p.name != "ignored":
                out.append(p)
        return out

    def validate(parameters: list[Any]) -> Any:
        calls.append(("validate", [(p.name, p.value) for p in parameters]))
        bad = [p.name for p in parameters if p.name == "mode" and p.value not in ("none", "fast")]
        return SetParametersResult(successful=not bad, reason=f"bad {bad}" if bad else "")

    def post_set(parameters: list[Any]) -> None:
        calls.append(("post", [(p.name, node.get_parameter(p.name).value) for p in parameters]))

    add_set_parameters_callbacks(node, pre_set=pre_set, validate=validate, post_set=post_set)
    return node, calls


def _exercise(node: Any) -> list[Any]:
    """A fixed sequence of parameter changes; returns what each call gave and the final values."""
    from rclpy.parameter import Parameter

    outcomes: list[Any] = []
    results = node.set_parameters([Parameter("rate", value=2), Parameter("mode", value="fast")])
    outcomes.append([(r.successful, r.reason) for r in results])
    results = node.set_parameters([Parameter("mode", value="sideways"), Parameter("rate", value=0.5)])
    outcomes.append([(r.successful, r.reason) for r in results])
    result = node.set_parameters_atomically([Parameter("rate", value=3), Parameter("mode", value="none")])
    outcomes.append((result.successful, result.reason))
    result = node.set_parameters_atomically([Parameter("rate", value=4.0), Parameter("mode", value="bad")])
    outcomes.append((result.successful, result.reason))
    outcomes.append((node.get_parameter("rate").value, type(node.get_parameter("rate").value).__name__,
                     node.get_parameter("mode").value))
    return outcomes


def test_emulated_callbacks_behave_like_the_native_ones(rclpy_context):
    require_rclpy()
    native, native_calls = _recording_node(rclpy_context, humble=False)
    humble, humble_calls = _recording_node(rclpy_context, humble=True)
    try:
        native_outcomes, humble_outcomes = _exercise(native), _exercise(humble)
    finally:
        native.destroy_node()
        humble.destroy_node()
    assert humble_outcomes == native_outcomes
    assert humble_calls == native_calls
    # What the sequence means, so that both agreeing on nothing cannot pass: the integer was
    # coerced before validation and stored as a float, the refused atomic change set neither value.
    assert native_outcomes[-1] == (3.0, "float", "none")
    assert [kind for kind, _ in native_calls[:3]] == ["pre", "validate", "post"]
    assert ("post", [("rate", 2.0)]) in native_calls
    assert not any(kind == "post" and ("mode", "sideways") in args for kind, args in native_calls)


@pytest.mark.timeout(240)
def test_node_executable_on_humble_rclpy_api(ros_env, rclpy_context, tmp_path):
    require_rclpy()
    checkpoint = write_tiny_checkpoint(tmp_path / "tiny")
    log = tmp_path / "humble_api.log"
    process = start_python([str(EXECUTABLE), "--ros-args", "-p", "device:=cpu", "-p", f"checkpoint:={checkpoint}"],
                           humble_env(ros_env, log))
    probe = Probe(rclpy_context)
    output = ""
    try:
        objects = probe.wait_for_objects(1.0, timeout=90, republish=make_frame(1.0))
        assert process.poll() is None
        assert len(objects.objects) == len(DEFAULT_OBJECTS)
        assert probe.set_parameter("/dualposenet", "refine.mode", "feature").successful
        assert probe.set_parameter("/dualposenet", "refine.feature.learning_rate", 1).successful  # int for a double
        assert _get_double_parameter(probe, "/dualposenet", "refine.feature.learning_rate") == 1.0
        refused = probe.set_parameter("/dualposenet", "refine.mode", "sideways")
        assert not refused.successful and "sideways" in refused.reason
        objects = probe.wait_for_objects(2.0, timeout=60, republish=make_frame(2.0))
        assert all(o.refined for o in objects.objects if o.status == o.STATUS_OK)
    except BaseException:
        output = stop(process)
        print(output)
        raise
    finally:
        probe.close()
        output = output or stop(process)
    assert str(EXECUTABLE) in log.read_text(), "the node did not run on the Humble API"
    assert "Traceback" not in output, output


@pytest.mark.timeout(300)
def test_demo_with_bag_recording_on_humble_rclpy_api(ros_env, ros_domain_id, tmp_path):
    require_rclpy()
    checkpoint = write_tiny_checkpoint(tmp_path / "tiny")
    log, out, bag = tmp_path / "humble_api.log", tmp_path / "out", tmp_path / "bag"
    result = subprocess.run([sys.executable, "-m", "dualposenet_ros.cli", "demo", "--checkpoint", str(checkpoint),
                             "--device", "cpu", "--domain-id", str(ros_domain_id), "--width", "320", "--height", "240",
                             "--frames", "3", "--rate", "3", "--out", str(out), "--record", str(bag)],
                            env=humble_env(ros_env, log), capture_output=True, text=True, timeout=280)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    shimmed = log.read_text()
    assert re.search(r"dualposenet_node|ros\.node import", shimmed) and "synthetic_camera" in shimmed, shimmed
    # Every estimate the demo received is in the bag too (both subscribers were counted by the node
    # before the camera started), and at least one frame was estimated.
    from dualposenet_ros.ros_tools import bag as bags

    estimated = json.loads((out / "estimates.json").read_text())["rates"]["frames_estimated"]
    assert estimated >= 1 and bags.bag_topics(bag)[bags.OBJECTS_TOPIC[0]][1] == estimated, result.stdout
