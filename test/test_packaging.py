"""The machine-learning core installs with pip and imports without ROS; the colcon install
merges the generated interfaces with the hand-written package without overwriting either."""

from __future__ import annotations

import os
import re
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


def _fake_environments(root: Path) -> dict[str, Path]:
    """Paths inside a virtual environment and a workspace as tools/setup.sh leaves them (their stamp
    files), of this checkout and of another, and a path of no such environment."""
    places = {}
    for owner in ("this", "other"):
        venv, ws = root / owner / ".venv", root / owner / ".ws"
        (venv / "bin").mkdir(parents=True)
        (venv / ".dualposenet-requirements").write_text("stamp\n")
        (ws / "install" / "tf2_msgs" / "lib").mkdir(parents=True)
        (ws / ".build-stamp").write_text("stamp\n")
        places[f"{owner}_venv"], places[f"{owner}_ws"] = venv, ws
    places["ros"] = root / "opt" / "ros" / "humble"
    return places


def test_another_environment_of_the_project_is_dropped_from_the_search_paths(tmp_path):
    """A shell with one distribution's environment sourced that sets up or sources another's keeps
    only the entries of the one it asks for, and every entry that no setup of this project made."""
    places = _fake_environments(tmp_path)
    this_venv, this_ws, other_venv, other_ws = (places[k] for k in ("this_venv", "this_ws", "other_venv", "other_ws"))
    this_messages, other_messages = (ws / "install" / "tf2_msgs" / "lib" for ws in (this_ws, other_ws))
    python_path = [other_messages, places["ros"] / "lib", this_messages, "relative/entry"]
    ament = [other_venv, places["ros"], this_venv]
    script = (f'source "{REPO / "tools" / "distro.sh"}"\n'
              f'dpn_drop_other_environments "{this_venv}" "{this_ws}"\n'
              'echo "PYTHONPATH=$PYTHONPATH"; echo "AMENT_PREFIX_PATH=$AMENT_PREFIX_PATH"\n'
              'echo "PATH=$PATH"; echo "CMAKE_PREFIX_PATH=${CMAKE_PREFIX_PATH-unset}"\n')
    env = {"HOME": str(tmp_path), "PATH": os.pathsep.join([str(other_venv / "bin"), "/usr/bin", "/bin"]),
           "PYTHONPATH": os.pathsep.join(map(str, python_path)), "AMENT_PREFIX_PATH": os.pathsep.join(map(str, ament)),
           "CMAKE_PREFIX_PATH": str(other_venv)}
    result = subprocess.run(["bash", "-euc", script], env=env, capture_output=True, text=True, check=True)
    values = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert values["PYTHONPATH"].split(":") == [str(places["ros"] / "lib"), str(this_messages), "relative/entry"]
    assert values["AMENT_PREFIX_PATH"].split(":") == [str(places["ros"]), str(this_venv)]
    assert values["PATH"] == "/usr/bin:/bin"
    assert values["CMAKE_PREFIX_PATH"] == "unset"  # nothing left: unset, not empty


def test_setup_and_env_scripts_drop_other_environments():
    """Both entry points of the environment call the clean-up before they use the search paths."""
    for script in ("setup.sh", "env.sh"):
        text = (REPO / "tools" / script).read_text()
        activation = re.search(r'^source ".*/bin/activate"$', text, re.MULTILINE)
        assert activation and text.index("dpn_drop_other_environments") < activation.start(), script


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
