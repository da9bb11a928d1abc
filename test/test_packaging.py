"""The machine-learning core installs with pip and imports without ROS; the colcon install
merges the generated interfaces with the hand-written package without overwriting either."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ros_support import require_rclpy

REPO = Path(__file__).resolve().parents[1]
CORE_MODULES = [
    "dualposenet_ros.model.preprocess", "dualposenet_ros.model.spherical", "dualposenet_ros.model.network",
    "dualposenet_ros.inference.pipeline", "dualposenet_ros.inference.refine", "dualposenet_ros.model.checkpoint",
    "dualposenet_ros.evaluation", "dualposenet_ros.research.phases", "dualposenet_ros.benchmarks.benchmark",
    "dualposenet_ros.cli", "dualposenet_ros.data.nocs_io", "dualposenet_ros.training.train",
    "dualposenet_ros.data.prepare", "dualposenet_ros.inference.visualize",
]


def test_core_imports_without_ros(tmp_path):
    """With rclpy and every ROS message package made unimportable, the core still imports."""
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text(
        "import sys\n"
        "class _NoRos:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in {'rclpy', 'rosidl_runtime_py', 'sensor_msgs', 'std_msgs', 'geometry_msgs'}:\n"
        "            raise ImportError('ROS is blocked in this test: ' + name)\n"
        "sys.meta_path.insert(0, _NoRos())\n")
    code = (f"import importlib, sys\nfor name in {CORE_MODULES!r}: importlib.import_module(name)\n"
            "assert 'rclpy' not in sys.modules\nprint('core ok')")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(REPO)]))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "core ok" in result.stdout


def test_pip_wheel_holds_the_core_and_the_shipped_model(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                             str(tmp_path), str(REPO)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    wheel = next(tmp_path.glob("dualposenet_ros-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "dualposenet_ros/inference/pipeline.py" in names and "dualposenet_ros/model/network.py" in names
    assert "dualposenet_ros/models/compact_synth.safetensors" in names
    assert "dualposenet_ros/models/compact_synth.json" in names
    assert not any(name.startswith("test/") for name in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "dualposenet = dualposenet_ros.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_colcon_install_merges_interfaces_and_core():
    require_rclpy()
    import dualposenet_ros
    import dualposenet_ros.msg

    # tools/env.sh names the workspace of the distribution in use (.ws, or .ws-jazzy...).
    install = Path(os.environ.get("DUALPOSENET_WS", REPO / ".ws")) / "install" / "dualposenet_ros"
    if not install.is_dir():
        pytest.skip("not built with tools/setup.sh")
    package = next(install.glob("lib/python3*/site-packages/dualposenet_ros"))
    assert (package / "msg" / "__init__.py").exists(), "generated interfaces missing from the install"
    assert (package / "inference" / "pipeline.py").exists(), "hand-written core missing from the install"
    assert "extend_path" in (package / "__init__.py").read_text(), "rosidl's empty __init__ overwrote ours"
    assert any(Path(p).resolve() == package.resolve() for p in dualposenet_ros.__path__)
    for executable in ("dualposenet_node", "synthetic_camera"):
        assert os.access(install / "lib" / "dualposenet_ros" / executable, os.X_OK)
    assert (install / "share" / "dualposenet_ros" / "launch" / "dualposenet.launch.py").exists()


def test_files_the_build_files_and_docs_name_exist():
    """A path like test/x.py or tools/x.sh named in the build files or the docs is in the tree."""
    import re

    named = set()
    for doc in ("CMakeLists.txt", "package.xml", "setup.py", "README.md", "CONTRIBUTING.md", "pyproject.toml"):
        if (REPO / doc).exists():
            text = (REPO / doc).read_text()
            named |= set(re.findall(r"\b((?:test|tools|requirements)/[\w./-]+\.(?:py|sh|txt))\b", text))
    assert "test/test_packaging.py" in named
    missing = sorted(path for path in named if not (REPO / path).exists())
    assert not missing, f"named but missing: {missing}"
