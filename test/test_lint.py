"""The lint rules of pyproject.toml hold everywhere (ruff, pinned in requirements/dev.txt), and the
code stays Python 3.10 syntax (ruff's target version; and a real Python 3.10 where one is installed)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINTED = ["dualposenet_ros", "test", "tools", "scripts", "launch", "setup.py"]
SCRIPTS = ["scripts/dualposenet_node", "scripts/synthetic_camera"]


def _pinned_ruff() -> str:
    match = re.search(r"^ruff==(\S+)$", (REPO / "requirements" / "dev.txt").read_text(), re.MULTILINE)
    assert match, "requirements/dev.txt must pin ruff (ruff==X.Y.Z)"
    return match.group(1)


def _ruff(*args: str) -> subprocess.CompletedProcess:
    try:
        import ruff  # noqa: F401
    except ImportError:
        pytest.fail("ruff is not installed: pip install -r requirements/dev.txt")
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=REPO, capture_output=True, text=True, timeout=300)


def test_ruff_passes_on_the_package_tests_tools_and_scripts():
    version = _ruff("--version").stdout.split()[-1]
    assert version == _pinned_ruff(), f"ruff {version} installed, requirements/dev.txt pins {_pinned_ruff()}"
    result = _ruff("check", "--no-cache", "--output-format", "concise", *LINTED)
    assert result.returncode == 0, f"ruff check failed:\n{result.stdout}{result.stderr}"


def test_ruff_sees_the_scripts_and_refuses_newer_syntax(tmp_path):
    """The check is not vacuous: it lints the extension-less executables, and under target-version
    py310 a Python 3.12 construct is an error."""
    listed = _ruff("check", "--no-cache", "--show-files", *LINTED).stdout
    assert all(str(REPO / script) in listed for script in SCRIPTS), listed[-2000:]
    sample = tmp_path / "py312.py"
    sample.write_text("type Vector = list[float]\n")
    result = _ruff("check", "--no-cache", "--config", str(REPO / "pyproject.toml"), str(sample))
    assert result.returncode != 0 and "3.12" in result.stdout + result.stderr


def test_pre_commit_runs_the_pinned_ruff():
    config = (REPO / ".pre-commit-config.yaml").read_text()
    assert "astral-sh/ruff-pre-commit" in config
    assert f"rev: v{_pinned_ruff()}" in config


def test_compiles_with_python_3_10():
    """Byte-compile every module and script with a Python 3.10 interpreter, where one is installed."""
    python310 = shutil.which("python3.10")
    # A pyenv shim runs only with its version selected; PYENV_VERSION is ignored elsewhere.
    env = dict(os.environ, PYENV_VERSION="3.10")
    if python310 is None or subprocess.run([python310, "-c", "pass"], capture_output=True, env=env).returncode != 0:
        pytest.skip("no python3.10 on this machine (ruff's target-version still checks the syntax)")
    files = [str(path) for folder in ("dualposenet_ros", "test", "tools", "launch") for path in
             sorted((REPO / folder).rglob("*.py"))] + [str(REPO / script) for script in SCRIPTS]
    code = ("import sys\nfor name in sys.argv[1:]:\n"
            "    compile(open(name, encoding='utf-8').read(), name, 'exec', dont_inherit=True)\n"
            "print(len(sys.argv) - 1)")
    result = subprocess.run([python310, "-c", code, *files], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == len(files) > 50
