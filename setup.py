"""pip installation of the machine-learning core and the ``dualposenet`` command.

``pip install .`` works on a machine without ROS: it installs the Python package (network,
pre-processing, data tools, evaluation, the shipped model) and the ``dualposenet`` command.
The ROS interfaces and executables are built by colcon from CMakeLists.txt instead.
"""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

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
    install_requires=(HERE / "requirements" / "core.txt").read_text().split(),
    extras_require={"ros": ["rosbags>=0.10"],
                    "onnx": [line.strip() for line in (HERE / "requirements" / "onnx.txt").read_text().splitlines()
                             if line.strip() and not line.lstrip().startswith("#")]},
    entry_points={"console_scripts": ["dualposenet = dualposenet_ros.cli:main"]},
)
