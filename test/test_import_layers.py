"""Imports run downhill: every module of the package sits in one layer of ``LAYERS`` and imports
only from its own layer or the layers below it, two modules never import each other (directly or
round a longer cycle), and only the node (``dualposenet_ros/ros/``) and the tools around it
(``dualposenet_ros/ros_tools/``) import ROS. The machine-learning core therefore imports without ROS,
and the CLI or the ROS adapter can change without touching what they build on. The node's runtime
(``ros.node`` and everything it imports) imports nothing from the demo tools, the benchmarks or
training (``NOT_IN_NODE_RUNTIME``).

Every ``import`` counts, also one inside a function (a lazy import is still a dependency), and so
does a string naming a module of the package (``importlib`` dispatch, ``python -m`` commands).
The CLI's dispatch to the ROS commands is the one allowed exception (``ALLOWED``).

A new module must be given a layer here: the table is the one place that says where code lives.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "dualposenet_ros"
PACKAGE_DIR = REPO / PACKAGE

# Lowest layer first, one layer per sub-package of the tree. An entry names a module, or a package
# ending in ".*" (the package and every module under it). A module may import from its own layer and
# from the layers listed before it.
LAYERS: list[tuple[str, list[str]]] = [
    # The ML core (CONTRIBUTING.md's "core"): imports without ROS.
    ("core", ["dualposenet_ros", "core.*"]),  # conventions and data types every layer shares
    ("models", ["models.*"]),  # the shipped model (data files and where they are)
    ("model", ["model.*"]),  # the network, its inputs, losses, checkpoints, precision
    ("inference", ["inference.*"]),  # PoseEstimator: the one inference path; tracking, drawing
    # Research workflows (CONTRIBUTING.md's "data/train/evaluation").
    ("data", ["data.*"]),
    ("evaluation", ["evaluation.*"]),
    ("training", ["training.*"]),
    ("research", ["research.*"]),  # test phases, official TensorFlow weights
    ("benchmarks", ["benchmarks.*"]),
    ("cli", ["cli"]),
    # ROS: the node's runtime (with the generated interfaces), then the tools that drive the node.
    ("ros", ["msg.*", "srv.*", "ros.*"]),
    ("ros tools", ["ros_tools.*"]),
]
ROS_LAYERS = {"ros", "ros tools"}

# (importer, imported) pairs that go uphill by design, with the reason.
ALLOWED: dict[tuple[str, str], str] = {
    ("dualposenet_ros.cli", "dualposenet_ros.ros_tools.demo"): "the CLI dispatches 'demo' to the ROS tool by name",
    ("dualposenet_ros.cli", "dualposenet_ros.ros_tools.node_benchmark"): "the CLI routes 'benchmark --node' by name",
}

# Top-level packages that exist only in a ROS installation (PyPI packages such as rosbags are not).
ROS_PACKAGES = {"rclpy", "rcl_interfaces", "builtin_interfaces", "std_msgs", "sensor_msgs", "geometry_msgs",
                "diagnostic_msgs", "vision_msgs", "visualization_msgs", "tf2_msgs", "tf2_ros", "tf2_py",
                "message_filters", "cv_bridge", "ament_index_python", "yolo_msgs", "launch", "launch_ros",
                "rosidl_runtime_py", "rosbag2_py", "rpyutils"}
_ROS_SUFFIXES = ("_msgs", "_srvs", "_interfaces")
_MODULE_STRING = re.compile(rf"{PACKAGE}(\.\w+)+")
# Interface modules rosidl generates into the install space only (no file in the tree).
GENERATED = {f"{PACKAGE}.msg", f"{PACKAGE}.srv"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def layer_of(module: str) -> int | None:
    """Index in ``LAYERS`` of ``module`` (a full dotted name), or None when no entry covers it."""
    relative = module[len(PACKAGE) + 1:] if module.startswith(PACKAGE + ".") else module
    for index, (_name, entries) in enumerate(LAYERS):
        for entry in entries:
            if entry == relative or (entry.endswith(".*") and (relative == entry[:-2]
                                                               or relative.startswith(entry[:-1]))):
                return index
    return None


def is_ros(top_level: str) -> bool:
    return top_level in ROS_PACKAGES or top_level.endswith(_ROS_SUFFIXES)


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    """Absolute name of a (possibly relative) ``from ... import`` source in ``module``."""
    if not level:
        return target or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - level + 1]
    return ".".join(base + ([target] if target else []))


def imports(module: str, path: Path, known: set[str]) -> Iterator[tuple[int, str, str]]:
    """(line, imported module, how it is written) for every import in the file, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, f"import {alias.name}"
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, is_package, node.level, node.module)
            written = f"from {'.' * node.level}{node.module or ''} import {', '.join(a.name for a in node.names)}"
            for alias in node.names:
                # "from package import submodule" depends on the submodule.
                submodule = f"{source}.{alias.name}"
                yield node.lineno, submodule if submodule in known else source, written
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _MODULE_STRING.fullmatch(node.value):
            if node.value in known:
                yield node.lineno, node.value, repr(node.value)


MODULES = package_modules()


def test_every_module_has_a_layer() -> None:
    missing = sorted(module for module in MODULES if layer_of(module) is None)
    assert not missing, f"modules without a layer: {missing}; add each to LAYERS in {Path(__file__).name}"


def test_layer_entries_name_existing_modules() -> None:
    """A stale entry (a module renamed or removed) would let a new module of that name in unexamined."""
    def named(entry: str) -> str:
        name = entry.removesuffix(".*")
        return name if name == PACKAGE else f"{PACKAGE}.{name}"

    stale = [entry for _name, entries in LAYERS for entry in entries
             if named(entry) not in GENERATED and named(entry) not in MODULES]
    assert not stale, f"LAYERS entries naming no module of the tree: {stale}"


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def uphill_imports(modules: dict[str, Path]) -> list[str]:
    """One line per import in ``modules`` that goes to a higher layer or, outside ros/, to ROS."""
    known = set(modules) | GENERATED
    problems = []
    for module, path in modules.items():
        own = layer_of(module)
        if own is None:
            continue
        for line, imported, written in imports(module, path, known):
            top_level = imported.split(".")[0]
            where = f"{_shown(path)}:{line}: {written}"
            if top_level != PACKAGE:
                if is_ros(top_level) and LAYERS[own][0] not in ROS_LAYERS:
                    problems.append(f"{where} -- {module} ({LAYERS[own][0]}) imports ROS package {top_level}; "
                                    "only dualposenet_ros/ros/ and ros_tools/ may")
                continue
            target = layer_of(imported)
            if target is None or imported == module or (module, imported) in ALLOWED:
                continue
            if target > own:
                problems.append(f"{where} -- {module} ({LAYERS[own][0]}) imports {imported} "
                                f"({LAYERS[target][0]}), a higher layer")
    return problems


def test_imports_run_downhill() -> None:
    problems = uphill_imports(MODULES)
    assert not problems, "imports that run uphill (see LAYERS in test/test_import_layers.py):\n" + "\n".join(problems)


def test_allowed_exceptions_are_still_needed() -> None:
    """An exception nobody uses any more is removed, so it cannot hide a new uphill import."""
    known = set(MODULES) | GENERATED
    used = {(module, imported) for module, path in MODULES.items()
            for _line, imported, _written in imports(module, path, known)}
    assert not set(ALLOWED) - used, f"unused ALLOWED entries: {sorted(set(ALLOWED) - used)}"


def import_cycles(modules: dict[str, Path]) -> list[list[str]]:
    """Cycles of the import graph between the package's modules (import statements at any depth)."""
    known = set(modules) | GENERATED
    graph = {module: sorted({imported for _line, imported, written in imports(module, path, known)
                             if imported in modules and imported != module and not written.startswith("'")})
             for module, path in modules.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for imported in graph[module]:
            if state.get(imported) == 1:
                cycles.append([*path[path.index(imported):], imported])
            elif imported not in state:
                visit(imported)
        path.pop()
        state[module] = 2

    for module in graph:
        if module not in state:
            visit(module)
    return cycles


def test_no_import_cycles() -> None:
    """Within a layer too, imports go one way: two modules that import each other are one module or a
    missing third one."""
    cycles = import_cycles(MODULES)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


@pytest.mark.parametrize("source, line, expected", [
    ("from .ros import node\n", 1, "dualposenet_ros.cli (cli) imports dualposenet_ros.ros.node (ros), a higher"),
    ("def lazy():\n    import rclpy\n", 2, "dualposenet_ros.cli (cli) imports ROS package rclpy"),
    ("from .research import phases\n", 1, ""),
    ("def lazy():\n    from . import msg\n", 2, "imports dualposenet_ros.msg (ros), a higher layer"),
    ("X = 'dualposenet_ros.ros_tools.bag'\n", 1, "imports dualposenet_ros.ros_tools.bag (ros tools), a higher layer"),
])
def test_checker_reports_an_uphill_import(tmp_path: Path, source: str, line: int, expected: str) -> None:
    """The check itself: an import appended to a copy of cli.py is reported, with its line, when uphill."""
    text = MODULES["dualposenet_ros.cli"].read_text(encoding="utf-8")
    copy = tmp_path / "cli.py"
    copy.write_text(text + source, encoding="utf-8")
    problems = uphill_imports({**MODULES, "dualposenet_ros.cli": copy})
    line += len(text.splitlines())
    if expected:
        assert any(problem.startswith(f"{copy}:{line}:") and expected in problem for problem in problems), problems
    else:
        assert not any(problem.startswith(str(copy)) for problem in problems), problems


def test_checker_reports_a_cycle(tmp_path: Path) -> None:
    """The cycle check itself: preprocess importing pipeline (which imports preprocess) is a cycle."""
    copy = tmp_path / "preprocess.py"
    copy.write_text(MODULES["dualposenet_ros.model.preprocess"].read_text(encoding="utf-8")
                    + "\n\ndef lazy():\n    from ..inference.pipeline import PoseEstimator\n", encoding="utf-8")
    cycles = import_cycles({**MODULES, "dualposenet_ros.model.preprocess": copy})
    assert any({"dualposenet_ros.model.preprocess", "dualposenet_ros.inference.pipeline"} <= set(cycle)
               for cycle in cycles), cycles


# The node's runtime: the executable's module and everything it imports, at any depth.
NODE_RUNTIME = f"{PACKAGE}.ros.node"
# Sub-packages the node's runtime never imports: what a robot runs carries no demo, benchmark or training code.
NOT_IN_NODE_RUNTIME = [f"{PACKAGE}.ros_tools", f"{PACKAGE}.benchmarks", f"{PACKAGE}.training"]


def runtime_imports(modules: dict[str, Path], start: str) -> dict[str, list[str]]:
    """Every package module that importing ``start`` loads (the packages around a module included), each
    with the chain of imports that reaches it."""
    known = set(modules) | GENERATED
    chains = {start: [start]}
    todo = [start]
    while todo:
        module = todo.pop()
        imported = {name for _line, name, _written in imports(module, modules[module], known)}
        parts = module.split(".")
        imported |= {".".join(parts[:end]) for end in range(1, len(parts))}  # the enclosing packages run first
        for name in sorted(imported & set(modules)):
            if name not in chains:
                chains[name] = [*chains[module], name]
                todo.append(name)
    return chains


def runtime_problems(modules: dict[str, Path]) -> list[str]:
    return [" -> ".join(chain) for module, chain in sorted(runtime_imports(modules, NODE_RUNTIME).items())
            if any(module == banned or module.startswith(banned + ".") for banned in NOT_IN_NODE_RUNTIME)]


def test_node_runtime_imports_no_demo_benchmark_or_training_code() -> None:
    problems = runtime_problems(MODULES)
    assert not problems, "the node's runtime imports:\n" + "\n".join(problems)


def test_node_runtime_check_reports_a_tool_import(tmp_path: Path) -> None:
    """The check itself: a module the node imports (stage_times) importing a demo tool is reported."""
    copy = tmp_path / "stage_times.py"
    copy.write_text(MODULES[f"{PACKAGE}.ros.stage_times"].read_text(encoding="utf-8")
                    + "\n\ndef lazy():\n    from ..ros_tools import bag\n", encoding="utf-8")
    problems = runtime_problems({**MODULES, f"{PACKAGE}.ros.stage_times": copy})
    assert f"{NODE_RUNTIME} -> {PACKAGE}.ros.stage_times -> {PACKAGE}.ros_tools.bag" in problems, problems
