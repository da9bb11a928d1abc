"""CPU threads of the node: OpenMP passive waiting and the ``threads`` parameter are in place
before torch loads, when the installed executable is started as ``ros2 run`` starts it.

libgomp (torch's OpenMP runtime) reads its settings once, when torch is imported, and prints what
it read when ``OMP_DISPLAY_ENV=VERBOSE``: ``GOMP_SPINCOUNT`` is 0 for the passive policy (300000
when no policy is set, 30000000000 for ACTIVE), so the node's output shows whether the node set
them in time. The node's own report (start-up line, /diagnostics from ``torch.get_num_threads``)
must agree."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from ros_support import require_rclpy, stop, track

VERBOSE = {"OMP_DISPLAY_ENV": "VERBOSE"}


# -- the rules, without ROS ------------------------------------------------------------------------


def test_thread_count_parameter_then_omp_num_threads_then_cpu_affinity():
    from dualposenet_ros.ros.cpu_threads import thread_count

    assert thread_count(3, {"OMP_NUM_THREADS": "5"}) == (3, "threads parameter")
    assert thread_count(0, {"OMP_NUM_THREADS": "5"}) == (5, "OMP_NUM_THREADS")
    for unusable in ({}, {"OMP_NUM_THREADS": "0"}, {"OMP_NUM_THREADS": "4,2"}):  # nested lists are not a count
        assert thread_count(0, unusable) == (len(os.sched_getaffinity(0)), "CPU affinity")


def test_configure_sets_passive_waiting_unless_a_policy_was_chosen():
    from dualposenet_ros.ros.cpu_threads import configure_process

    for given, expected in (({}, "PASSIVE"), ({"OMP_WAIT_POLICY": ""}, "PASSIVE"),
                            ({"OMP_WAIT_POLICY": "active"}, "ACTIVE")):
        environ = dict(given)
        threads = configure_process(2, environ)
        assert (threads.count, threads.wait_policy, environ["OMP_NUM_THREADS"]) == (2, expected, "2")
        assert environ["OMP_WAIT_POLICY"].upper() == expected
        assert not threads.before_torch  # this test process has loaded torch: the report says so
        assert "not applied" in threads.summary()


def test_requested_threads_reads_the_override_or_falls_back_to_automatic():
    from types import SimpleNamespace

    from dualposenet_ros.ros.cpu_threads import requested_threads

    assert requested_threads({"threads": SimpleNamespace(value=4)}) == 4
    for bad in ({}, {"threads": SimpleNamespace(value=-2)}, {"threads": SimpleNamespace(value="4")},
                {"threads": SimpleNamespace(value=True)}):
        assert requested_threads(bad) == 0  # the parameter table reports the bad value at start


# -- the installed executable ----------------------------------------------------------------------


def _installed_executable() -> Path:
    """``<prefix>/lib/dualposenet_ros/dualposenet_node`` of the colcon install, where ``ros2 run``
    finds it (the ament index of AMENT_PREFIX_PATH)."""
    require_rclpy()
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    try:
        executable = Path(get_package_prefix("dualposenet_ros")) / "lib" / "dualposenet_ros" / "dualposenet_node"
    except PackageNotFoundError:
        pytest.skip("dualposenet_ros is not installed in a ROS workspace (tools/setup.sh builds it)")
    assert os.access(executable, os.X_OK), f"{executable} is not executable"
    return executable


def _start(ros_env: dict[str, str], tmp_path: Path, args: list[str], env: dict[str, str],
           cpus: set[int] | None = None) -> tuple[subprocess.Popen, Path]:
    """The installed executable run directly (its #! line), as ``ros2 run`` runs it, output to a log."""
    from ros_node_support import write_tiny_checkpoint

    stem = write_tiny_checkpoint(tmp_path / "tiny")
    environment = {name: value for name, value in ros_env.items()
                   if name not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    environment.update(env)
    log = tmp_path / "node.log"
    command = [str(_installed_executable()), "--ros-args", *args, "-p", f"checkpoint:={stem}", "-p", "device:=cpu"]
    process = track(subprocess.Popen(command, env=environment, stdout=log.open("w"), stderr=subprocess.STDOUT,
                                     preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None))
    return process, log


def _wait_ready(process: subprocess.Popen, log: Path, timeout: float = 120.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        text = log.read_text()
        if "ready:" in text:
            return text
        time.sleep(0.2)
    raise AssertionError(f"the node did not start (exit status {process.poll()}):\n{log.read_text()}")


def _libgomp_settings(text: str) -> dict[str, str]:
    """What libgomp printed it read (OMP_DISPLAY_ENV), by name."""
    block = text.split("OPENMP DISPLAY ENVIRONMENT BEGIN", 1)[1].split("OPENMP DISPLAY ENVIRONMENT END", 1)[0]
    pairs = (line.strip().split(" = ", 1) for line in block.splitlines() if " = " in line)
    return {name.strip(): value.strip().strip("'") for name, value in pairs}


@pytest.mark.timeout(240)
def test_installed_node_takes_threads_from_its_parameter_file_and_waits_passively(ros_env, tmp_path, rclpy_context):
    rclpy = require_rclpy()
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor

    from dualposenet_ros.ros.diagnostics import node_status

    params = tmp_path / "params.yaml"
    params.write_text("/**:\n  ros__parameters:\n    threads: 3\n    diagnostics_period: 0.2\n")
    process, log = _start(ros_env, tmp_path, ["--params-file", str(params)], VERBOSE)
    listener = rclpy.create_node("threads_test_listener", context=rclpy_context)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(listener)
    statuses: list[dict[str, str]] = []
    listener.create_subscription(DiagnosticArray, "/diagnostics",
                                 lambda msg: statuses.append(node_status(msg, "/dualposenet") or {}), 10)
    try:
        text = _wait_ready(process, log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("threads" in status for status in statuses):
            executor.spin_once(timeout_sec=0.1)
    finally:
        executor.shutdown()
        listener.destroy_node()
        stop(process)
    gomp = _libgomp_settings(text)
    assert (gomp["GOMP_SPINCOUNT"], gomp["OMP_NUM_THREADS"]) == ("0", "3"), gomp  # read when torch loaded
    assert "threads 3 (threads parameter), OpenMP wait policy PASSIVE;" in text
    status = next(status for status in statuses if "threads" in status)
    assert (status["threads"], status["OpenMP wait policy"]) == ("3", "PASSIVE")  # torch.get_num_threads()


@pytest.mark.timeout(240)
def test_installed_node_defaults_to_the_cores_it_may_use_and_keeps_a_chosen_policy(ros_env, tmp_path):
    require_rclpy()
    process, log = _start(ros_env, tmp_path, [], {**VERBOSE, "OMP_WAIT_POLICY": "ACTIVE"},
                          cpus={min(os.sched_getaffinity(0))})
    try:
        text = _wait_ready(process, log)
    finally:
        stop(process)
    gomp = _libgomp_settings(text)
    assert (gomp["GOMP_SPINCOUNT"], gomp["OMP_NUM_THREADS"]) == ("30000000000", "1"), gomp
    assert "threads 1 (CPU affinity), OpenMP wait policy ACTIVE;" in text
