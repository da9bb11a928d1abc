"""pip installation of the machine-learning core and the ``dualposenet`` command.

``pip install .`` works on a machine without ROS: it installs the Python package (network,
pre-processing, data tools, evaluation, the shipped model) and the ``dualposenet`` command.
The ROS interfaces and executables are built by colcon from CMakeLists.txt instead.
"""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def requirements(name: str) -> list[str]:
    """The requirement lines of ``requirements/<name>`` (comments and blank lines dropped)."""
    lines = (HERE / "requirements" / name).read_text().splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]

setup(
    name="dualposenet_ros",
    version="0.1.0",
    description="DualPoseNet category-level 6D object pose and size estimation in PyTorch, with a ROS 2 node",
    long_description=(HERE / "README.md").read_text(encoding="utf-8") if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["dualposenet_ros", "dualposenet_ros.*"]),
    package_data={"dualposenet_ros": ["models/*.safetensors", "models/*.json", "configs/*.yaml"]},
    install_requires=requirements("core.txt"),
    extras_require={"onnx": requirements("onnx.txt")},
    entry_points={"console_scripts": ["dualposenet = dualposenet_ros.cli:main"]},
)
