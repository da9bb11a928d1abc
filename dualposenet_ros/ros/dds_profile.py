"""The DDS configuration full-size images need, applied to every process of the package.

With Fast DDS's default transports, best-effort messages larger than about 200 KB (a 640x480 rgb8
image is 900 KB) are mostly lost between two processes on one machine, and a best-effort topic
never resends. ``config/fastdds_large_data.xml`` (16 MB shared-memory segment, 4 MB socket
buffers) fixes that when both ends use it. Fast DDS reads the profile when a participant is
created, so :func:`use_shipped_profile` must run before ``rclpy.init``; the package's entry point
(:mod:`.entry_point`) and its process helpers call it, the launch files through
:func:`launch_actions`. A profile the user chose (``FASTDDS_DEFAULT_PROFILES_FILE`` or
``FASTRTPS_DEFAULT_PROFILES_FILE``) is never replaced, and other RMW implementations are left
alone (docs/dds.md, "Large images over DDS", has the Cyclone DDS settings).
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

__all__ = ["FASTDDS2_PROFILE_FILE", "PROFILE_FILE", "PROFILE_VARIABLES", "fast_dds_generation", "launch_actions",
           "profile_variable", "shipped_profile", "use_shipped_profile", "uses_fast_dds"]

PROFILE_FILE = "fastdds_large_data.xml"
"""The profile in Fast DDS 3's element names (ROS 2 Kilted and later)."""
FASTDDS2_PROFILE_FILE = "fastdds2_large_data.xml"
"""The same settings in Fast DDS 2's element names (Humble, Jazzy): each generation refuses the other's file."""
PROFILE_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")
"""Environment variables Fast DDS reads its default profile file from: Fast DDS 3 the first (and,
deprecated, the second), Fast DDS 2 the second only."""
FASTDDS2_DISTRIBUTIONS = ("humble", "iron", "jazzy")
"""ROS 2 distributions whose Fast DDS is 2.x."""


def fast_dds_generation(environ: MutableMapping[str, str] | None = None) -> int:
    """2 or 3: the Fast DDS major version ROS runs with here, from ``ROS_DISTRO`` (set by a ROS
    installation's setup script and by tools/env.sh), else from the library found in the
    AMENT_PREFIX_PATH prefixes (``libfastrtps`` is 2.x, ``libfastdds`` 3.x); 3 when unknown."""
    environ = os.environ if environ is None else environ
    distro = environ.get("ROS_DISTRO", "").strip().lower()
    if distro:
        return 2 if distro in FASTDDS2_DISTRIBUTIONS else 3
    for prefix in filter(None, environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)):
        if any((Path(prefix) / "lib").glob("libfastrtps.so*")):
            return 2
        if any((Path(prefix) / "lib").glob("libfastdds.so*")):
            return 3
    return 3


def profile_variable(environ: MutableMapping[str, str] | None = None) -> str:
    """The environment variable the Fast DDS in use reads its profile file from."""
    return _profile_choice(fast_dds_generation(environ))[0]


def _profile_choice(generation: int) -> tuple[str, str]:
    """(environment variable, shipped profile file) of a Fast DDS generation (2 or 3)."""
    return (PROFILE_VARIABLES[0], PROFILE_FILE) if generation == 3 else (PROFILE_VARIABLES[1], FASTDDS2_PROFILE_FILE)


def shipped_profile(name: str | None = None, environ: MutableMapping[str, str] | None = None) -> Path | None:
    """``config/<name>`` of this package (default: the profile for the Fast DDS in use): the source
    checkout's when running from one, else the installed ``share/dualposenet_ros/config`` copy;
    None if neither exists."""
    if name is None:
        name = _profile_choice(fast_dds_generation(environ))[1]
    source = Path(__file__).resolve().parents[2] / "config" / name
    if source.is_file():
        return source
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    except ImportError:
        return None
    try:
        installed = Path(get_package_share_directory("dualposenet_ros")) / "config" / name
    except PackageNotFoundError:
        return None
    return installed if installed.is_file() else None


def uses_fast_dds(environ: MutableMapping[str, str] | None = None) -> bool:
    """Whether ROS will use Fast DDS (the default RMW implementation)."""
    rmw = (os.environ if environ is None else environ).get("RMW_IMPLEMENTATION", "").strip()
    return rmw == "" or rmw.startswith("rmw_fastrtps")


def use_shipped_profile(environ: MutableMapping[str, str] | None = None) -> tuple[str, str] | None:
    """Point Fast DDS at the shipped profile unless the user set one or another RMW is used.

    Changes ``environ`` (default: this process's environment, so children inherit it) and returns
    ``(level, line)`` to log once ("info", or "warning" when the file is missing), or None when
    nothing was changed."""
    environ = os.environ if environ is None else environ
    if not uses_fast_dds(environ) or any(environ.get(name) for name in PROFILE_VARIABLES):
        return None
    variable, name = _profile_choice(fast_dds_generation(environ))
    profile = shipped_profile(name)
    if profile is None:
        return "warning", (f"{name} not found (incomplete installation?): Fast DDS runs with its default "
                           "transports, which lose most best-effort images larger than about 200 KB")
    environ[variable] = str(profile)
    return "info", (f"Fast DDS profile for large images: {profile} (16 MB shared memory, 4 MB socket buffers; the "
                    f"camera driver needs it too; set {variable} to use your own)")


def launch_actions(context: object = None) -> list:
    """For a launch file's ``OpaqueFunction`` placed before the processes it starts: the actions that
    give them the shipped profile (unless the user chose one) and log that once."""
    from launch.actions import LogInfo, SetEnvironmentVariable

    environment = dict(os.environ)
    note = use_shipped_profile(environment)
    if note is None:
        return []
    variable = profile_variable(environment)
    chosen = [SetEnvironmentVariable(variable, environment[variable])] if variable in environment else []
    return [*chosen, LogInfo(msg=note[1])]
