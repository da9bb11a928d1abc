#!/usr/bin/env python3
"""Refresh test/fixtures/rosdistro from a checkout of the ROS distribution index (ros/rosdistro).

    python tools/rosdistro_snapshot.py PATH/TO/rosdistro [--commit SHA]

Writes what test/test_rosdep_keys.py needs to check package.xml without internet: for each
supported distribution the names of its released packages and its Ubuntu platform; every rosdep
key (rosdep/base.yaml, rosdep/python.yaml); and, verbatim, the rules of the system keys
package.xml names.
Run it again after adding a dependency to package.xml.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "test" / "fixtures" / "rosdistro"
DISTRIBUTIONS = ("humble", "jazzy", "kilted")


def manifest_keys(package_xml: Path) -> list[str]:
    """Every dependency key of a package.xml (build, exec, test, buildtool...)."""
    return sorted(set(re.findall(r"<(?:\w+_)?depend>\s*([^<\s]+)\s*<", package_xml.read_text())))


def released_packages(distribution: dict) -> list[str]:
    """Package names released in a distribution.yaml (a repository without a list releases itself)."""
    names: set[str] = set()
    for repository, entry in distribution["repositories"].items():
        release = entry.get("release")
        if release is not None:
            names.update(release.get("packages", [repository]))
    return sorted(names)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rosdistro", type=Path, help="checkout of https://github.com/ros/rosdistro")
    parser.add_argument("--commit", default="unknown", help="the checkout's commit, recorded in the snapshot")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    ros_packages: set[str] = set()
    for name in DISTRIBUTIONS:
        distribution = yaml.safe_load((args.rosdistro / name / "distribution.yaml").read_text())
        packages = released_packages(distribution)
        ros_packages.update(packages)
        ubuntu = ",".join(distribution["release_platforms"].get("ubuntu", []))
        header = f"# ros/rosdistro {args.commit}: {name}/distribution.yaml, released packages; ubuntu: {ubuntu}\n"
        (OUT / f"{name}.packages").write_text(header + "\n".join(packages) + "\n")
    rules: dict = {}
    for source in ("base.yaml", "python.yaml"):
        rules.update(yaml.safe_load((args.rosdistro / "rosdep" / source).read_text()))
    keys_header = f"# ros/rosdistro {args.commit}: every key of rosdep/base.yaml and rosdep/python.yaml\n"
    (OUT / "rosdep.keys").write_text(keys_header + "\n".join(sorted(rules)) + "\n")
    system_keys = [key for key in manifest_keys(REPO / "package.xml") if key not in ros_packages]
    wanted = {key: rules[key] for key in system_keys if key in rules}
    header = (f"# ros/rosdistro {args.commit}: the rules of rosdep/base.yaml and rosdep/python.yaml for the\n"
              "# system keys package.xml names (tools/rosdistro_snapshot.py).\n")
    (OUT / "rosdep.yaml").write_text(header + yaml.safe_dump(wanted, sort_keys=True, default_flow_style=None))
    missing = sorted(set(system_keys) - set(wanted))
    print(f"wrote {OUT}: {len(wanted)} rosdep rules" + (f"; no rule for {', '.join(missing)}" if missing else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
