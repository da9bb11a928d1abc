"""The test suite's own clean-up: a process a test started and left running is stopped when its
module ends (conftest.py), so a failed fixture cannot leave a node running for the rest of the run."""

from __future__ import annotations

import subprocess
import sys

from ros_support import stop_leftovers, track


def test_leftover_processes_are_stopped_and_named():
    finished = track(subprocess.Popen([sys.executable, "-c", "pass"]))
    finished.wait()
    running = track(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    leftovers = stop_leftovers()
    assert running.poll() is not None  # stopped, not left to the end of the run
    assert leftovers == [f"{sys.executable} -c import time; time.sleep(60)"]
    assert stop_leftovers() == []  # each process once
