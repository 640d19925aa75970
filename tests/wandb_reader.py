"""Reads a W&B run file (run-<id>.wandb, as WANDB_MODE=offline leaves it) with W&B's own record schema
(wandb.proto.wandb_internal_pb2.Record): the file is W&B's header, then LevelDB-log records in 32 KiB blocks."""

from __future__ import annotations

import struct
from pathlib import Path

HEADER = 7  # ":W&B", a 2-byte magic, a version byte
BLOCK = 32768
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> list:
    from wandb.proto.wandb_internal_pb2 import Record

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", path
    found, pending, at = [], b"", HEADER
    while at + 7 <= len(data):
        left = BLOCK - at % BLOCK
        if left < 7:  # a block's tail too short for a header is padding
            at += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[at : at + 7])
        chunk = data[at + 7 : at + 7 + length]
        at += 7 + length
        if kind == 0 and length == 0:
            break
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            record = Record()
            record.ParseFromString(pending)
            found.append(record)
    return found
