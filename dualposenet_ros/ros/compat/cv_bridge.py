"""Stand-in for ``cv_bridge`` (used only where it is not installed).

Same interface as cv_bridge's Python ``CvBridge`` for the calls the project makes:
``imgmsg_to_cv2(img_msg, desired_encoding="passthrough")`` and
``cv2_to_imgmsg(cvim, encoding="passthrough", header=None)``; errors raise :class:`CvBridgeError`
(a ``TypeError``, as in cv_bridge). Encodings: rgb8, bgr8, rgba8, bgra8, mono8, mono16 and the
generic ``<bits><U|S|F>C<channels>`` names (8UC1, 16UC1, 32FC1, 32SC1, ...). Colour conversions
between rgb8, bgr8, rgba8, bgra8 and mono8 are supported; other encodings only pass through.

Unlike cv_bridge, a message whose ``step`` or data length does not fit its width, height and
encoding is rejected with a message that says what is wrong, instead of a numpy buffer error.
"""

from __future__ import annotations

import re
import sys
from typing import Any

import numpy as np

__all__ = ["CvBridge", "CvBridgeError", "encoding_info"]


class CvBridgeError(TypeError):
    """A conversion between a ROS image and an array failed."""


_NAMED = {
    "rgb8": (np.uint8, 3), "bgr8": (np.uint8, 3), "rgba8": (np.uint8, 4), "bgra8": (np.uint8, 4),
    "rgb16": (np.uint16, 3), "bgr16": (np.uint16, 3), "rgba16": (np.uint16, 4), "bgra16": (np.uint16, 4),
    "mono8": (np.uint8, 1), "mono16": (np.uint16, 1),
}
_GENERIC = re.compile(r"^(8|16|32|64)(U|S|F)C([1-4])$")
_DTYPES = {("8", "U"): np.uint8, ("8", "S"): np.int8, ("16", "U"): np.uint16, ("16", "S"): np.int16,
           ("32", "S"): np.int32, ("32", "F"): np.float32, ("64", "F"): np.float64}
_COLOUR = {"rgb8", "bgr8", "rgba8", "bgra8", "mono8"}


def encoding_info(encoding: str) -> tuple[np.dtype, int]:
    """(element dtype, channels) of a sensor_msgs/Image encoding, or CvBridgeError."""
    if encoding in _NAMED:
        dtype, channels = _NAMED[encoding]
        return np.dtype(dtype), channels
    match = _GENERIC.match(encoding)
    if match and (match.group(1), match.group(2)) in _DTYPES:
        return np.dtype(_DTYPES[match.group(1), match.group(2)]), int(match.group(3))
    raise CvBridgeError(f"unsupported image encoding {encoding!r}")


def _generic_name(dtype: np.dtype, channels: int) -> str:
    for (bits, kind), candidate in _DTYPES.items():
        if np.dtype(candidate) == dtype:
            return f"{bits}{kind}C{channels}"
    raise CvBridgeError(f"arrays of dtype {dtype} cannot be sent as a ROS image")


def _convert_colour(image: np.ndarray, source: str, target: str) -> np.ndarray:
    import cv2

    if source not in _COLOUR or target not in _COLOUR:
        raise CvBridgeError(f"cannot convert image from {source!r} to {target!r} "
                            f"(conversions are supported between {', '.join(sorted(_COLOUR))})")
    code_name = f"COLOR_{source.upper().rstrip('8')}2{target.upper().rstrip('8')}".replace("MONO", "GRAY")
    code = getattr(cv2, code_name, None)
    if code is None:
        raise CvBridgeError(f"cannot convert image from {source!r} to {target!r}")
    return cv2.cvtColor(image, code)


class CvBridge:
    """Converts between ``sensor_msgs/msg/Image`` and numpy arrays (OpenCV images)."""

    def imgmsg_to_cv2(self, img_msg: Any, desired_encoding: str = "passthrough") -> np.ndarray:
        """The image as an (H, W) or (H, W, C) array; a copy, independent of the message."""
        dtype, channels = encoding_info(img_msg.encoding)
        height, width, step = int(img_msg.height), int(img_msg.width), int(img_msg.step)
        row_bytes = width * channels * dtype.itemsize
        data = memoryview(img_msg.data).cast("B")
        if step < row_bytes:
            raise CvBridgeError(f"image step {step} is smaller than a row of {width} {img_msg.encoding} pixels "
                                f"({row_bytes} bytes)")
        if len(data) != step * height:
            raise CvBridgeError(f"image data has {len(data)} bytes, expected step * height = {step} * {height} "
                                f"= {step * height}")
        if step % dtype.itemsize:
            raise CvBridgeError(f"image step {step} is not a multiple of the {dtype.itemsize}-byte element size")
        order = ">" if img_msg.is_bigendian else "<"
        rows = np.frombuffer(data, dtype=dtype.newbyteorder(order), count=step * height // dtype.itemsize)
        image = rows.reshape(height, step // dtype.itemsize)[:, : width * channels]
        image = image.reshape(height, width, channels) if channels > 1 else image.reshape(height, width)
        image = np.ascontiguousarray(image, dtype=dtype.newbyteorder("="))
        if desired_encoding in ("passthrough", img_msg.encoding):
            return image
        return _convert_colour(image, img_msg.encoding, desired_encoding)

    def cv2_to_imgmsg(self, cvim: np.ndarray, encoding: str = "passthrough", header: Any = None) -> Any:
        """A ``sensor_msgs/msg/Image`` holding ``cvim`` (row-major, no padding)."""
        from sensor_msgs.msg import Image

        if not isinstance(cvim, np.ndarray):
            raise CvBridgeError("the image must be a numpy array")
        if cvim.ndim not in (2, 3) or cvim.size == 0:
            raise CvBridgeError(f"the image must be a non-empty (H, W) or (H, W, C) array, got shape {cvim.shape}")
        channels = 1 if cvim.ndim == 2 else cvim.shape[2]
        if encoding == "passthrough":
            encoding = _generic_name(cvim.dtype, channels)
        else:
            dtype, expected = encoding_info(encoding)
            if dtype != cvim.dtype or expected != channels:
                raise CvBridgeError(f"encoding specified as {encoding}, but image has incompatible type "
                                    f"{_generic_name(cvim.dtype, channels)}")
        msg = Image()
        if header is not None:
            msg.header = header
        msg.height, msg.width = int(cvim.shape[0]), int(cvim.shape[1])
        msg.encoding = encoding
        msg.is_bigendian = sys.byteorder == "big"
        data = np.ascontiguousarray(cvim).tobytes()
        msg.data = data
        msg.step = len(data) // msg.height
        return msg
