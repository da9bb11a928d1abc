"""Read TensorFlow V2 checkpoints (tensor bundles) with numpy alone, checking every checksum.

The authors' weights are a TensorFlow 1.x checkpoint; requiring TensorFlow to read it would pull a
large framework into a PyTorch package. A V2 checkpoint ``PREFIX`` is three kinds of file:

* ``PREFIX.index``: a LevelDB-style sorted table. Blocks of prefix-compressed ``key -> value``
  entries, each block followed by a type byte and a masked CRC32C; an index block of block handles;
  a 48-byte footer ending in a magic number. Key ``""`` holds a ``BundleHeaderProto`` (shard count,
  byte order); every other key is a variable name whose value is a ``BundleEntryProto`` (dtype,
  shape, shard, offset, size, masked CRC32C of the raw bytes).
* ``PREFIX.data-SSSSS-of-NNNNN``: the raw little-endian tensors, back to back.
* ``checkpoint`` (optional, in the directory): a text proto naming the latest prefix.

Only the few protobuf fields needed are decoded, with a generic wire-format reader. A variable's
bytes are read only when asked for (:meth:`TFCheckpoint.read`), so optimizer slots a caller skips
are never loaded. Everything wrong is a :class:`TFCheckpointError` naming the file and variable.
"""

from __future__ import annotations

import codecs
import math
import os
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import google_crc32c
import numpy as np

TABLE_MAGIC = 0xDB4775248B80FB57
"""Last 8 bytes of a LevelDB/TensorFlow table (little-endian)."""
FOOTER_SIZE = 48
BLOCK_TRAILER_SIZE = 5
CRC_MASK_DELTA = 0xA282EAD8
STATE_FILE = "checkpoint"
MAX_SHARDS = 99999
"""Shard numbers have five digits in the data file names."""
_DATA_SUFFIX = re.compile(r"\.data-\d{5}-of-\d{5}$")
_STATE_PATH = re.compile(r'^\s*model_checkpoint_path\s*:\s*"((?:[^"\\]|\\.)*)"', re.MULTILINE)

# TensorFlow DataType enum -> numpy dtype (little-endian); the ones numpy cannot hold are refused on read.
_DTYPES: dict[int, np.dtype] = {
    1: np.dtype("<f4"), 2: np.dtype("<f8"), 3: np.dtype("<i4"), 4: np.dtype("u1"), 5: np.dtype("<i2"),
    6: np.dtype("i1"), 9: np.dtype("<i8"), 10: np.dtype("?"), 17: np.dtype("<u2"), 19: np.dtype("<f2"),
    22: np.dtype("<u4"), 23: np.dtype("<u8"),
}
_DTYPE_NAMES = {7: "string", 8: "complex64", 14: "bfloat16", 18: "complex128", 20: "resource", 21: "variant"}


class TFCheckpointError(ValueError):
    """A TensorFlow checkpoint is missing, of an unsupported kind, corrupt or truncated."""


def mask_crc(crc: int) -> int:
    """LevelDB/TensorFlow CRC masking (stored CRCs are masked so CRCs of CRCs stay well distributed)."""
    return (((crc >> 15) | (crc << 17)) + CRC_MASK_DELTA) & 0xFFFFFFFF


def crc32c(data: bytes) -> int:
    """Unmasked CRC32C (Castagnoli) of ``data``."""
    return google_crc32c.value(data)


# ----------------------------------------------------------------------------- protobuf wire format

def _varint(buffer: bytes, position: int) -> tuple[int, int]:
    """Decode a base-128 varint at ``position``; returns (value, next position)."""
    result, shift = 0, 0
    while True:
        if position >= len(buffer) or shift > 63:
            raise ValueError("truncated or overlong varint")
        byte = buffer[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _proto_fields(buffer: bytes) -> Iterator[tuple[int, int | bytes]]:
    """Yield (field number, value) of a protobuf message: ints for varint/fixed, bytes for length-delimited."""
    position = 0
    while position < len(buffer):
        key, position = _varint(buffer, position)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, position = _varint(buffer, position)
        elif wire == 1:
            if position + 8 > len(buffer):
                raise ValueError("truncated fixed64 field")
            value, position = struct.unpack_from("<Q", buffer, position)[0], position + 8
        elif wire == 2:
            length, position = _varint(buffer, position)
            if position + length > len(buffer):
                raise ValueError("truncated length-delimited field")
            value, position = bytes(buffer[position:position + length]), position + length
        elif wire == 5:
            if position + 4 > len(buffer):
                raise ValueError("truncated fixed32 field")
            value, position = struct.unpack_from("<I", buffer, position)[0], position + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield field, value


@dataclass(frozen=True)
class TensorEntry:
    """Where and what one variable is (a decoded ``BundleEntryProto``)."""

    name: str
    dtype_code: int
    shape: tuple[int, ...]
    shard: int
    offset: int
    size: int
    masked_crc: int | None
    sliced: bool

    @property
    def dtype(self) -> np.dtype | None:
        """The numpy dtype, or None for TensorFlow types numpy cannot hold (strings, bfloat16...)."""
        return _DTYPES.get(self.dtype_code)

    @property
    def dtype_name(self) -> str:
        dtype = self.dtype
        return dtype.name if dtype is not None else _DTYPE_NAMES.get(self.dtype_code, f"dtype {self.dtype_code}")


def _as_int(value: int | bytes) -> int:
    """A scalar field's value; a corrupt message can put a length-delimited field where a number belongs."""
    if not isinstance(value, int):
        raise ValueError("number field holds bytes")
    return value


def _as_message(value: int | bytes) -> bytes:
    """A sub-message field's bytes (never ``bytes(n)``, which would allocate n zero bytes)."""
    if not isinstance(value, bytes):
        raise ValueError("message field holds a number")
    return value


def _parse_entry(name: str, value: bytes) -> TensorEntry:
    dtype, shape, shard, offset, size, crc, sliced = 0, [], 0, 0, 0, None, False
    for field, content in _proto_fields(value):
        if field == 1:
            dtype = _as_int(content)
        elif field == 2:  # TensorShapeProto: repeated Dim dim = 2 { int64 size = 1 }; bool unknown_rank = 3
            for shape_field, dim in _proto_fields(_as_message(content)):
                if shape_field == 2:
                    sizes = [_signed64(_as_int(v)) for f, v in _proto_fields(_as_message(dim)) if f == 1]
                    shape.append(sizes[-1] if sizes else 0)
                elif shape_field == 3 and _as_int(dim):
                    raise ValueError("unknown rank")
        elif field == 3:
            shard = _as_int(content)
        elif field == 4:
            offset = _signed64(_as_int(content))
        elif field == 5:
            size = _signed64(_as_int(content))
        elif field == 6:
            crc = _as_int(content)
        elif field == 7:
            sliced = True
    return TensorEntry(name, dtype, tuple(shape), shard, offset, size, crc, sliced)


# ----------------------------------------------------------------------------- sorted table (index file)

def _block_handle(buffer: bytes, position: int) -> tuple[int, int, int]:
    offset, position = _varint(buffer, position)
    size, position = _varint(buffer, position)
    return offset, size, position


def _read_block(table: bytes, offset: int, size: int) -> bytes:
    """Block contents after checking its bounds, compression type and masked CRC32C."""
    end = offset + size
    if end + BLOCK_TRAILER_SIZE > len(table) - FOOTER_SIZE:
        raise ValueError(f"block at {offset} (+{size}) runs past the end of the table")
    contents = table[offset:end]
    block_type = table[end]
    stored = struct.unpack_from("<I", table, end + 1)[0]
    if mask_crc(crc32c(table[offset:end + 1])) != stored:
        raise ValueError(f"checksum mismatch in the block at byte {offset}")
    if block_type != 0:
        raise ValueError(f"block at byte {offset} is compressed (type {block_type}); TensorFlow writes bundles "
                         "uncompressed")
    return contents


def _block_entries(block: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Yield (key, value) of a block: prefix-compressed keys, then the restart array and its count."""
    if len(block) < 4:
        raise ValueError("block shorter than its restart count")
    restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    limit = len(block) - 4 - 4 * restarts
    if limit < 0:
        raise ValueError("block restart array larger than the block")
    position, key = 0, b""
    while position < limit:
        shared, position = _varint(block, position)
        unshared, position = _varint(block, position)
        value_length, position = _varint(block, position)
        if shared > len(key) or position + unshared + value_length > limit:
            raise ValueError("corrupt block entry")
        key = key[:shared] + block[position:position + unshared]
        position += unshared
        yield key, block[position:position + value_length]
        position += value_length


def _table_entries(table: bytes) -> Iterator[tuple[bytes, bytes]]:
    """All (key, value) pairs of a LevelDB-format table, in key order."""
    if len(table) < FOOTER_SIZE or struct.unpack_from("<Q", table, len(table) - 8)[0] != TABLE_MAGIC:
        raise ValueError("no table footer (bad magic number): not a TensorFlow checkpoint index, or truncated")
    footer = len(table) - FOOTER_SIZE
    _, _, position = _block_handle(table, footer)  # metaindex: unused by TensorFlow bundles
    index_offset, index_size, _ = _block_handle(table, position)
    for _, handle in _block_entries(_read_block(table, index_offset, index_size)):
        offset, size, _ = _block_handle(handle, 0)
        yield from _block_entries(_read_block(table, offset, size))


# ----------------------------------------------------------------------------- checkpoint location

def _state_file_prefix(directory: Path) -> Path:
    """The prefix a ``checkpoint`` state file names, taken beside the file (its path may be of another machine)."""
    state = directory / STATE_FILE
    if not state.is_file():
        raise TFCheckpointError(f"{directory} is a directory without a '{STATE_FILE}' file: pass the checkpoint "
                                "prefix (e.g. .../model-30) or the directory TensorFlow's Saver wrote")
    try:
        match = _STATE_PATH.search(state.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise TFCheckpointError(f"cannot read {state}: {error}") from None
    if not match or not match.group(1):
        raise TFCheckpointError(f"{state} has no model_checkpoint_path entry")
    # Text-proto escapes (\\, \", octal bytes of UTF-8 names) -> the path as written.
    written = codecs.escape_decode(match.group(1).encode("utf-8"))[0].decode("utf-8", "replace")
    return directory / re.split(r"[\\/]", written.rstrip("/\\"))[-1]


def resolve_prefix(path: str | os.PathLike[str]) -> Path:
    """The checkpoint prefix of ``path``: a prefix, one of its files, or a directory with a ``checkpoint`` file."""
    path = Path(path)
    if path.is_dir():
        return _state_file_prefix(path)
    name = path.name
    if name == STATE_FILE and path.is_file():
        return _state_file_prefix(path.parent)
    for suffix in (".index", ".meta"):
        if name.endswith(suffix):
            return path.with_name(name[: -len(suffix)])
    return path.with_name(_DATA_SUFFIX.sub("", name))


def _is_table(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell() < FOOTER_SIZE:
                return False
            handle.seek(-8, os.SEEK_END)
            return struct.unpack("<Q", handle.read(8))[0] == TABLE_MAGIC
    except OSError:
        return False


def _missing_index(prefix: Path) -> TFCheckpointError:
    """The right message when ``PREFIX.index`` does not exist (V1 checkpoint, typo, missing files)."""
    v1_files = [p for p in (prefix, *sorted(prefix.parent.glob(prefix.name + "-?????-of-?????"))) if p.is_file()]
    if any(_is_table(p) for p in v1_files):
        return TFCheckpointError(
            f"{v1_files[0]} is a TensorFlow V1 checkpoint (one table file, no .index/.data files); only V2 "
            "checkpoints can be imported: re-save it with tf.compat.v1.train.Saver(write_version=tf.compat.v1."
            "train.SaverDef.V2)")
    return TFCheckpointError(f"no TensorFlow checkpoint at {prefix}: {prefix.name}.index not found")


# ----------------------------------------------------------------------------- the checkpoint

class TFCheckpoint:
    """An opened V2 checkpoint: its variable table, with data read and checked on demand."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.prefix = resolve_prefix(path)
        self.index_path = self.prefix.with_name(self.prefix.name + ".index")
        if not self.index_path.is_file():
            raise _missing_index(self.prefix)
        try:
            table = self.index_path.read_bytes()
        except OSError as error:
            raise TFCheckpointError(f"cannot read {self.index_path}: {error}") from None
        self.num_shards = 1
        self.entries: dict[str, TensorEntry] = {}
        self._parse(table)
        self.data_paths = [self.prefix.with_name(f"{self.prefix.name}.data-{shard:05d}-of-{self.num_shards:05d}")
                           for shard in range(self.num_shards)]
        self._check_data_files()

    def _parse(self, table: bytes) -> None:
        name = self.index_path.name
        header_seen = False
        try:
            for key, value in _table_entries(table):
                if key == b"":
                    self._parse_header(value)
                    header_seen = True
                    continue
                variable = key.decode("utf-8")
                try:
                    self.entries[variable] = _parse_entry(variable, value)
                except (ValueError, TypeError) as error:
                    raise TFCheckpointError(f"variable {variable!r} in {name}: corrupt entry ({error})") from None
        except TFCheckpointError:
            raise
        except (ValueError, TypeError, UnicodeDecodeError) as error:  # TypeError: a field of the wrong wire type
            raise TFCheckpointError(f"{name} is corrupt: {error}") from None
        if not header_seen:
            raise TFCheckpointError(f"{name} has no bundle header: not a TensorFlow V2 checkpoint index")

    def _parse_header(self, value: bytes) -> None:
        fields = dict(_proto_fields(value))
        self.num_shards = _as_int(fields.get(1, 1))
        if _as_int(fields.get(2, 0)) != 0:
            raise TFCheckpointError(f"{self.index_path.name} was written big-endian; only little-endian checkpoints "
                                    "are supported")
        if not 1 <= self.num_shards <= MAX_SHARDS:
            raise TFCheckpointError(f"{self.index_path.name} declares {self.num_shards} data shards")

    def _check_data_files(self) -> None:
        """Each variable lies inside its data file (catches truncation without reading skipped tensors)."""
        sizes = []
        for data_path in self.data_paths:
            try:
                sizes.append(data_path.stat().st_size)
            except OSError:
                raise TFCheckpointError(f"data file {data_path.name} of checkpoint {self.prefix.name} not found "
                                        f"next to {self.index_path.name}") from None
        for entry in self.entries.values():
            if entry.sliced:
                raise TFCheckpointError(f"variable {entry.name!r} in {self.index_path.name} is a partitioned "
                                        "variable; partitioned checkpoints are not supported")
            if not 0 <= entry.shard < self.num_shards:
                raise TFCheckpointError(f"variable {entry.name!r} in {self.index_path.name} names shard {entry.shard} "
                                        f"of {self.num_shards}")
            end = entry.offset + entry.size
            if entry.offset < 0 or entry.size < 0 or end > sizes[entry.shard]:
                data = self.data_paths[entry.shard]
                raise TFCheckpointError(f"data file {data.name} is truncated or corrupt: variable {entry.name!r} "
                                        f"needs bytes {entry.offset}..{end} but the file has {sizes[entry.shard]}")

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Variable name -> shape, for every entry (no data is read)."""
        return {name: entry.shape for name, entry in self.entries.items()}

    def read(self, name: str) -> np.ndarray:
        """The variable's read-only array (native byte order) after checking its size and CRC32C."""
        entry = self.entries.get(name)
        if entry is None:
            raise TFCheckpointError(f"{self.index_path.name} has no variable {name!r}")
        data_path = self.data_paths[entry.shard]
        dtype = entry.dtype
        if dtype is None:
            raise TFCheckpointError(f"variable {name!r} in {self.index_path.name} has type {entry.dtype_name}, "
                                    "which cannot be read")
        if any(dim < 0 for dim in entry.shape) or math.prod(entry.shape) * dtype.itemsize != entry.size:
            raise TFCheckpointError(f"variable {name!r} in {self.index_path.name}: shape {entry.shape} of "
                                    f"{entry.dtype_name} does not fit its {entry.size} bytes in {data_path.name}")
        try:
            with data_path.open("rb") as handle:
                handle.seek(entry.offset)
                raw = handle.read(entry.size)
        except OSError as error:
            raise TFCheckpointError(f"cannot read variable {name!r} from {data_path.name}: {error}") from None
        if len(raw) != entry.size:
            raise TFCheckpointError(f"data file {data_path.name} is truncated: variable {name!r} needs "
                                    f"{entry.size} bytes at {entry.offset}, got {len(raw)}")
        if entry.masked_crc is not None:
            computed = mask_crc(crc32c(raw))
            if computed != entry.masked_crc:
                raise TFCheckpointError(f"CRC32C mismatch for variable {name!r} in data file {data_path.name} "
                                        f"(index says {entry.masked_crc:#010x}, data gives {computed:#010x}): "
                                        "the file is corrupt")
        # Read-only view of the bytes just read (no copy); callers copy when they convert the layout.
        return np.frombuffer(raw, dtype=dtype).reshape(entry.shape).astype(dtype.newbyteorder("="), copy=False)


# ----------------------------------------------------------------------------- writer (tests, benchmarks)

_DTYPE_CODES = {dtype: code for code, dtype in _DTYPES.items()}
RESTART_INTERVAL = 16
BLOCK_SIZE = 1 << 18


def _encode_varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field_varint(field: int, value: int) -> bytes:
    return _encode_varint(field << 3) + _encode_varint(value)


def _field_bytes(field: int, value: bytes) -> bytes:
    return _encode_varint(field << 3 | 2) + _encode_varint(len(value)) + value


def _encode_entry(dtype_code: int, shape: tuple[int, ...], offset: int, size: int, crc: int) -> bytes:
    dims = b"".join(_field_bytes(2, _field_varint(1, dim)) for dim in shape)
    return (_field_varint(1, dtype_code) + _field_bytes(2, dims) + _field_varint(4, offset) + _field_varint(5, size)
            + _encode_varint(6 << 3 | 5) + struct.pack("<I", crc))


def _encode_block(entries: list[tuple[bytes, bytes]]) -> bytes:
    out, restarts, previous = bytearray(), [], b""
    for number, (key, value) in enumerate(entries):
        shared = 0
        if number % RESTART_INTERVAL:
            while shared < min(len(key), len(previous)) and key[shared] == previous[shared]:
                shared += 1
        else:
            restarts.append(len(out))
        out += _encode_varint(shared) + _encode_varint(len(key) - shared) + _encode_varint(len(value))
        out += key[shared:] + value
        previous = key
    out += b"".join(struct.pack("<I", r) for r in restarts or [0]) + struct.pack("<I", len(restarts or [0]))
    return bytes(out)


def _append_block(table: bytearray, contents: bytes) -> bytes:
    """Append a block and its trailer; returns its encoded handle."""
    handle = _encode_varint(len(table)) + _encode_varint(len(contents))
    table += contents + b"\x00" + struct.pack("<I", mask_crc(crc32c(contents + b"\x00")))
    return handle


def write_checkpoint(prefix: str | os.PathLike[str], arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` as a single-shard V2 checkpoint ``PREFIX.index`` + ``PREFIX.data-00000-of-00001``.

    The layout TensorFlow's ``BundleWriter`` produces (sorted table, raw little-endian data, masked
    CRC32Cs); used to make test and benchmark checkpoints of any size without TensorFlow.
    """
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    header = _field_varint(1, 1) + _field_bytes(3, _field_varint(1, 1))  # num_shards 1, version {producer 1}
    entries: list[tuple[bytes, bytes]] = [(b"", header)]
    offset = 0
    with prefix.with_name(prefix.name + ".data-00000-of-00001").open("wb") as data:
        for name in sorted(arrays):
            array = np.asarray(arrays[name])
            dtype = array.dtype.newbyteorder("<") if array.dtype.itemsize > 1 else array.dtype
            raw = np.ascontiguousarray(array, dtype=dtype).tobytes()
            data.write(raw)
            entries.append((name.encode("utf-8"),
                            _encode_entry(_DTYPE_CODES[dtype], array.shape, offset, len(raw), mask_crc(crc32c(raw)))))
            offset += len(raw)
    table, index, block, block_bytes = bytearray(), [], [], 0
    for key, value in entries:
        block.append((key, value))
        block_bytes += len(key) + len(value)
        if block_bytes >= BLOCK_SIZE:
            index.append((key, _append_block(table, _encode_block(block))))
            block, block_bytes = [], 0
    if block:
        index.append((block[-1][0], _append_block(table, _encode_block(block))))
    metaindex = _append_block(table, _encode_block([]))
    index_handle = _append_block(table, _encode_block(index))
    table += (metaindex + index_handle).ljust(FOOTER_SIZE - 8, b"\x00") + struct.pack("<Q", TABLE_MAGIC)
    index_path = prefix.with_name(prefix.name + ".index")
    index_path.write_bytes(bytes(table))
    return index_path
