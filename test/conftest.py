"""Shared fixtures. DDS discovery never leaves the loopback interface, and every test that
uses ROS gets a ROS_DOMAIN_ID of its own, so no test can forget either."""

from __future__ import annotations

import fcntl
import itertools
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

TEST_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(TEST_DIR))

# Before anything imports rclpy in this process.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
# Per pytest process a block of 25 domains, used in turn, so tests that follow each other do not
# share a domain (a process a test left behind cannot disturb the next one). A block is held
# with an exclusive file lock for the whole session: two test sessions on one machine at once
# never share a domain (a camera of one could otherwise count the other's node as its
# subscriber). Domains stay within 1..100, whose ports lie below Linux's ephemeral port range.
_DOMAIN_BLOCK = 25
_DOMAIN_BLOCKS = 4


def _hold_domain_block() -> int:
    """Lock a free block of domains for this process (kept until it exits) and return its first id."""
    lock_dir = Path(tempfile.gettempdir()) / "dualposenet-test-domains"
    lock_dir.mkdir(exist_ok=True)
    for block in range(_DOMAIN_BLOCKS):
        handle = open(lock_dir / f"block{block}.lock", "w")  # noqa: SIM115 (held until the process exits)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        _HELD_LOCKS.append(handle)
        return 1 + block * _DOMAIN_BLOCK
    block = os.getpid() % _DOMAIN_BLOCKS
    print(f"conftest: every block of test DDS domains is in use; waiting for block {block}", file=sys.stderr)
    handle = open(lock_dir / f"block{block}.lock", "w")  # noqa: SIM115 (held until the process exits)
    fcntl.flock(handle, fcntl.LOCK_EX)
    _HELD_LOCKS.append(handle)
    return 1 + block * _DOMAIN_BLOCK


_HELD_LOCKS: list = []
_BASE_DOMAIN = _hold_domain_block()
_domains = itertools.count(1)
os.environ["ROS_DOMAIN_ID"] = str(_BASE_DOMAIN)  # this process's own rclpy use
# The package's Fast DDS profile for large images, as its executables use it: this process's
# participants and every child the tests start (unless the user chose a profile).
from dualposenet_ros.ros.dds_profile import use_shipped_profile  # noqa: E402 (after the environment above)
from dualposenet_ros.ros_tools.processes import ros_environment  # noqa: E402
from ros_support import processes_in_domain  # noqa: E402 (test/ is on the path from here)

use_shipped_profile()


def _python_path(env: dict[str, str]) -> str:
    """The tests' helpers, then this checkout's package (so the executables the tests start run the
    code under test, not an older colcon install; ``extend_path`` still finds the built messages)."""
    return os.pathsep.join(filter(None, [str(TEST_DIR), str(TEST_DIR.parent), env.get("PYTHONPATH")]))


def _next_domain() -> int:
    """The next domain of this session's block (not the block's first, this process's own) that no
    other process uses any more; domains are reused only once their processes are gone."""
    for _ in range(_DOMAIN_BLOCK):
        domain = _BASE_DOMAIN + next(_domains) % _DOMAIN_BLOCK
        if domain != _BASE_DOMAIN and not processes_in_domain(domain):
            return domain
    raise RuntimeError(f"every DDS domain of {_BASE_DOMAIN + 1}..{_BASE_DOMAIN + _DOMAIN_BLOCK - 1} is still used by "
                       "processes earlier tests started: they did not stop")


@pytest.fixture(scope="module", autouse=True)
def _no_process_outlives_its_module() -> Iterator[None]:
    """Stops what a module's tests started and left running (a test or fixture that failed between
    starting a process and its ``try``/``finally``): such a node would spend the CPU of every later
    test and outlive the run. Set up before, so torn down after, the module's own fixtures."""
    from ros_support import stop_leftovers

    yield
    stop_leftovers()


@pytest.fixture
def ros_domain_id() -> int:
    """A DDS domain id for this test only (distinct per test and per pytest process)."""
    return _next_domain()


def _ros_env(domain: int) -> dict[str, str]:
    """The environment the package gives its ROS processes (loopback-only discovery, ``domain``,
    the Fast DDS profile, passive OpenMP waiting), with this checkout first on the Python path."""
    env = ros_environment(domain)
    env["PYTHONPATH"] = _python_path(env)
    return env


@contextmanager
def _rclpy_context(domain: int) -> Iterator[Any]:
    """An initialised rclpy context on ``domain``, shut down afterwards."""
    from ros_support import require_rclpy

    rclpy = require_rclpy()
    context = rclpy.context.Context()
    rclpy.init(context=context, domain_id=domain)
    try:
        yield context
    finally:
        if context.ok():
            rclpy.shutdown(context=context)


@pytest.fixture
def ros_env(ros_domain_id: int) -> dict[str, str]:
    """Environment for ROS subprocesses of this test: loopback-only discovery, its own domain."""
    return _ros_env(ros_domain_id)


@pytest.fixture(scope="module")
def module_ros_env() -> dict[str, str]:
    """:func:`ros_env` for a module whose tests share one node (its own domain)."""
    return _ros_env(_next_domain())


@pytest.fixture(scope="module")
def module_rclpy_context(module_ros_env: dict[str, str]) -> Iterator[Any]:
    """An rclpy context on the domain of :func:`module_ros_env`, shared by the module's tests."""
    with _rclpy_context(int(module_ros_env["ROS_DOMAIN_ID"])) as context:
        yield context


@pytest.fixture
def rclpy_context(ros_domain_id: int) -> Iterator[Any]:
    """An initialised rclpy context on this test's domain, shut down afterwards."""
    with _rclpy_context(ros_domain_id) as context:
        yield context


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Tiny models on a shared machine: torch's intra-op threads only oversubscribe the cores (about
    ten times slower on two). A module opts in with ``pytestmark = pytest.mark.usefixtures(...)``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(params=[pytest.param("dualposenet_ros.ros.compat.message_filters", id="fallback"),
                        pytest.param("message_filters", id="message_filters")])
def mf(request):
    """The message_filters stand-in, then the real package: a test of message_filters behaviour runs
    on both and must get the same answers. The real one skips where it cannot be installed (PyPI
    wheels) and is required where a ROS installation is (ros_support.REQUIRE_ROS=full)."""
    import importlib

    from ros_support import require_distribution_library, require_rclpy

    require_rclpy()
    if request.param == "message_filters":
        return require_distribution_library("message_filters")
    return importlib.import_module(request.param)
