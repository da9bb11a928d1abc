#!/usr/bin/env python3
"""Re-point the include paths that the ROS 2 PyPI wheels' CMake exports hard-code.

The wheels were built in a manylinux container, so the exported targets of every message
package name that container's Python headers and numpy headers. CMake refuses targets whose
include directories do not exist; this rewrites them to the running interpreter's. Idempotent.
"""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

import numpy

BUILD_PYTHON = re.compile(r"/opt/python/cp\d+-cp\d+")


def fix_prefix(prefix: Path) -> int:
    """Rewrite every exported CMake file under ``prefix/share``; return how many changed."""
    python_include = sysconfig.get_paths()["include"]
    numpy_include = numpy.get_include()
    changed = 0
    for path in (prefix / "share").glob("*/cmake/*.cmake"):
        text = path.read_text()
        if "/opt/python/" not in text:
            continue
        numpy_headers = BUILD_PYTHON.pattern + r"/lib/python[\d.]+/site-packages/numpy/_?core/include"
        text = re.sub(numpy_headers, numpy_include, text)
        text = re.sub(BUILD_PYTHON.pattern + r"/include/python[\d.]+", python_include, text)
        path.write_text(text)
        changed += 1
    return changed


if __name__ == "__main__":
    prefix = Path(sys.argv[1] if len(sys.argv) > 1 else sys.prefix)
    print(f"[setup] re-pointed include paths in {fix_prefix(prefix)} CMake export files")
