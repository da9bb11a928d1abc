"""The DDS configuration full-size images need, applied to every process of the package.

With Fast DDS's default transports, best-effort messages larger than about 200 KB (a 640x480 rgb8
image is 900 KB) are mostly lost between two processes on one machine, and a best-effort topic
never resends. ``config/fastdds_large_data.xml`` (16 MB shared-memory segment, 4 MB socket
buffers) fixes that when both ends use it. Fast DDS reads the profile when a participant is
created, so :func:`use_shipped_profile` must run before ``rclpy.init``; the package's entry point
(:mod:`.entry_point`) and its process helpers call it, the launch files through
:func:`launch_actions`. A profile the user chose (``FASTDDS_DEFAULT_PROFILES_FILE`` or
``FASTRTPS_DEFAULT_PROFILES_FILE``) is never replaced, and other RMW implementations are left
alone (README, "Large images over DDS", has the Cyclone DDS settings).
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

__all__ = ["FASTDDS2_PROFILE_FILE", "PROFILE_FILE", "PROFILE_VARIABLES", "launch_actions", "shipped_profile",
           "use_shipped_profile", "uses_fast_dds"]

PROFILE_FILE = "fastdds_large_data.xml"
FASTDDS2_PROFILE_FILE = "fastdds2_large_data.xml"
"""The same profile in Fast DDS 2's element names (Humble, Jazzy; Fast DDS 3 refuses them and 2 refuses 3's)."""
PROFILE_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")
"""Environment variables Fast DDS reads its default profile file from: Fast DDS 3 (Kilted) reads the
first only, Fast DDS 2 (Humble, Jazzy) the second only; each gets its version's file."""


def shipped_profile(name: str = PROFILE_FILE) -> Path | None:
    """``config/<name>`` (default: the Fast DDS 3 profile) of this package: the source checkout's
    when running from one, else the installed ``share/dualposenet_ros/config`` copy; None if neither
    exists."""
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
    profile = shipped_profile()
    if profile is None:
        return "warning", (f"{PROFILE_FILE} not found (incomplete installation?): Fast DDS runs with its default "
                           "transports, which lose most best-effort images larger than about 200 KB")
    environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(profile)
    fastdds2 = shipped_profile(FASTDDS2_PROFILE_FILE)
    if fastdds2 is not None:
        environ["FASTRTPS_DEFAULT_PROFILES_FILE"] = str(fastdds2)
    return "info", (f"Fast DDS profile for large images: {profile} (16 MB shared memory, 4 MB socket buffers; the "
                    "camera driver needs it too; set FASTDDS_DEFAULT_PROFILES_FILE to use your own)")


def launch_actions(context: object = None) -> list:
    """For a launch file's ``OpaqueFunction`` placed before the processes it starts: the actions that
    give them the shipped profile (unless the user chose one) and log that once."""
    from launch.actions import LogInfo, SetEnvironmentVariable

    environment = dict(os.environ)
    note = use_shipped_profile(environment)
    if note is None:
        return []
    actions: list = [LogInfo(msg=note[1])]
    actions[:0] = [SetEnvironmentVariable(name, environment[name]) for name in PROFILE_VARIABLES if name in environment]
    return actions
