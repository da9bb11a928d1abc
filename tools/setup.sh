#!/usr/bin/env bash
# Sets up everything on a machine without a ROS installation, without root:
#   - a virtual environment with the CPU build of torch and the Python dependencies,
#   - ROS 2 (rclpy with Fast DDS, message packages, rosidl generators) and colcon from PyPI wheels,
#   - this package built with colcon (interfaces included) in a workspace.
# Usage: tools/setup.sh [--distro kilted|jazzy]. Kilted (the default) goes to .venv and .ws/,
# another distribution to .venv-<distro> and .ws-<distro>/ (requirements/ros-<distro>-pypi.txt).
# Idempotent: when nothing changed it only checks two stamps and returns in about a second.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=tools/distro.sh
source "$REPO/tools/distro.sh"
dpn_parse_distro "$@"
VENV="$DPN_VENV"
WS="$DUALPOSENET_WS"
dpn_drop_other_environments "$VENV" "$WS"
TORCH_SPEC="${DUALPOSENET_TORCH:-torch==2.13.0}"
ROS_REQUIREMENTS="requirements/ros-$DUALPOSENET_ROS_DISTRO-pypi.txt"
cd "$REPO"
dpn_lock "$WS"
say() { dpn_say setup "$*"; }
digest() { sha256sum | cut -c1-32; }

dpn_venv "$VENV"
# shellcheck disable=SC1091
source "$VENV/bin/activate"

requirements_stamp="$( { echo "$TORCH_SPEC"; cat requirements/*.txt setup.py; } | digest)"
if [[ "$(cat "$VENV/.dualposenet-requirements" 2>/dev/null)" != "$requirements_stamp" ]]; then
  say "installing $TORCH_SPEC, the Python dependencies, ROS 2 $DUALPOSENET_ROS_DISTRO wheels and colcon"
  dpn_pip python "$TORCH_SPEC"
  dpn_pip python -r requirements/core.txt -r "$ROS_REQUIREMENTS" -r requirements/dev.txt
  dpn_pip python --no-deps --no-build-isolation -e "$REPO"
  python "$REPO/tools/fix_ros_wheel_cmake.py" "$VENV"
  echo "$requirements_stamp" > "$VENV/.dualposenet-requirements"
fi

# The ROS wheels install into the virtual environment's prefix; CMake and colcon find them there.
export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$VENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"

# A standard ROS workspace whose src/ links to this repository. Building through the link keeps
# the virtual environment (inside the repository) outside CMake's source directory, which CMake
# requires for the include paths the generated interfaces export.
mkdir -p "$WS/src"
ln -sfn ../.. "$WS/src/dualposenet_ros"
# Message packages without a wheel, built from tools/ros_overlay (same definitions, so the same wire
# types and hashes): tf2_msgs (so /tf carries real tf2_msgs/msg/TFMessage), vision_msgs
# (~/detections, Detection2DArray input) and yolo_msgs (yolo_ros input). An installed package wins.
for overlay in tf2_msgs vision_msgs yolo_msgs; do
  if AMENT_PREFIX_PATH="$VENV" python -c "import $overlay.msg" 2>/dev/null && [[ ! -L "$WS/src/$overlay" ]]; then
    rm -f "$WS/src/$overlay"
  else
    ln -sfn "../../tools/ros_overlay/$overlay" "$WS/src/$overlay"
  fi
done
build_stamp="$( {
  cat CMakeLists.txt package.xml msg/*.msg tools/ros_overlay/*/msg/*.msg tools/ros_overlay/*/CMakeLists.txt
  find dualposenet_ros launch config resource scripts -type f -not -path '*__pycache__*' | LC_ALL=C sort
} | digest)"
if [[ ! -f "$WS/install/setup.bash" || "$(cat "$WS/.build-stamp" 2>/dev/null)" != "$build_stamp" ]]; then
  say "building the dualposenet_ros package with colcon in $WS (interfaces, executables, launch files)"
  ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST \
    colcon --log-base "$WS/log" build --symlink-install --base-paths "$WS/src" \
    --build-base "$WS/build" --install-base "$WS/install" \
    --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$VENV/bin/python" \
    --event-handlers console_cohesion- summary+ >/dev/null
  echo "$build_stamp" > "$WS/.build-stamp"
fi
say "ready: source tools/env.sh${DUALPOSENET_DISTRO_ARGS:+ $DUALPOSENET_DISTRO_ARGS} to use it in a shell"
