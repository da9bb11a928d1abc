"""Starting and stopping the package's ROS processes from Python: the demo and the node benchmark.

Every process started here gets ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` and one
``ROS_DOMAIN_ID`` (:func:`ros_environment`), so nothing leaves the machine and concurrent runs do
not see each other. Children run in their own session with their output in a log file and are
always stopped: SIGINT (as Ctrl-C), a wait, then SIGKILL (:meth:`ChildProcess.stop`,
:func:`stop_all`); :class:`TerminateAsInterrupt` turns SIGTERM into KeyboardInterrupt so
``finally`` blocks run when the parent itself is terminated.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..ros.dds_profile import PROFILE_VARIABLES, use_shipped_profile

__all__ = ["ChildProcess", "ProcessError", "TerminateAsInterrupt", "configure_this_process", "executable_command",
           "pick_domain_id", "ros_args", "ros_environment", "stop_all"]


class ProcessError(RuntimeError):
    """A child process or its environment cannot be set up; the message says why."""


def ros_environment(domain_id: int) -> dict[str, str]:
    """This process's environment for ROS processes: loopback-only discovery, ``domain_id``.

    Unless the user chose a Fast DDS profile: the package's profile for large images
    (:func:`.dds_profile.use_shipped_profile`: best-effort images arrive, and its 50 ms heartbeat
    resends a lost fragment of a reliable image within 0.1 s instead of 3 s). The OpenMP settings
    are the node's own business (:mod:`dualposenet_ros.ros.cpu_threads`), as when a user starts it."""
    env = dict(os.environ)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["ROS_DOMAIN_ID"] = str(int(domain_id))
    env["PYTHONUNBUFFERED"] = "1"
    use_shipped_profile(env)
    return env


def configure_this_process(domain_id: int) -> dict[str, str]:
    """Apply :func:`ros_environment` to this process (before rclpy creates a participant) and
    return the environment for its children."""
    env = ros_environment(domain_id)
    for name in ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_DOMAIN_ID", *PROFILE_VARIABLES):
        if name in env:
            os.environ[name] = env[name]
    return env


def pick_domain_id(requested: int | None) -> int:
    if requested is None:
        return random.randint(100, 199)
    if not 0 <= requested <= 232:
        raise ProcessError(f"--domain-id must be in 0..232, got {requested}")
    return requested


def executable_command(executable: str, module: str) -> list[str]:
    """How to run one of the package's executables with this Python: the installed script in
    ``<prefix>/lib/dualposenet_ros/`` (colcon install, found through AMENT_PREFIX_PATH), else
    the module's ``main``."""
    for prefix in filter(None, os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)):
        candidate = Path(prefix) / "lib" / "dualposenet_ros" / executable
        if candidate.is_file():
            return [sys.executable, str(candidate)]
    return [sys.executable, "-c", f"import sys; from {module} import main; sys.exit(main())"]


def ros_args(parameters: dict[str, Any]) -> list[str]:
    """``--ros-args -p name:=value ...`` of a parameter dict (booleans as true/false)."""
    args = ["--ros-args"]
    for name, value in parameters.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        args += ["-p", f"{name}:={value}"]
    return args


@dataclass
class ChildProcess:
    """A ROS process started by this one, its output in a log file; stopped by :meth:`stop`."""

    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None
    _log: Any = None
    own_session: bool = True
    """True: its own session. False: its own process group in this process's session, so that the
    scheduler treats both alike (Linux's autogroups share the CPU between sessions: a benchmark
    that times work in this process against the child's needs them in one session)."""

    def start(self) -> "ChildProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w", encoding="utf-8")
        # Its own session (or process group): a Ctrl-C in the terminal reaches the demo only, which
        # stops the children in order (and no child outlives the demo's process group).
        group = {"start_new_session": True} if self.own_session else {"preexec_fn": os.setpgrp}
        self.process = subprocess.Popen(self.command, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, **group)
        return self

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGINT (as Ctrl-C), wait up to ``timeout`` s, then SIGKILL. Returns the exit status."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            try:
                if timeout > 0:
                    process.send_signal(signal.SIGINT)
                    process.wait(timeout=timeout)
                else:
                    raise subprocess.TimeoutExpired(self.command, 0)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5.0)
        if self._log is not None and not self._log.closed:
            self._log.close()
        return process.returncode

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace").rstrip().splitlines()
        except OSError:
            return "(no log)"
        return "\n".join("    " + line for line in text[-lines:]) or "    (empty log)"


def stop_all(children: Sequence[ChildProcess], timeout: float = 10.0) -> None:
    """Interrupt every child at once (one SIGINT each), wait up to ``timeout`` s in all for them
    to end, then kill what is left."""
    for child in children:
        if child.running:
            try:
                child.process.send_signal(signal.SIGINT)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + timeout
    for child in children:
        if child.process is not None:
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
    for child in children:
        child.stop(timeout=0.0)  # kills what is still running; closes the logs


class TerminateAsInterrupt:
    """While active (main thread only), SIGTERM raises KeyboardInterrupt, so ``finally`` blocks
    stop the child processes when the demo itself is terminated."""

    def __enter__(self) -> "TerminateAsInterrupt":
        import threading

        self._previous = None
        if threading.current_thread() is threading.main_thread():
            def interrupt(signum: int, frame: Any) -> None:
                raise KeyboardInterrupt

            self._previous = signal.signal(signal.SIGTERM, interrupt)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
