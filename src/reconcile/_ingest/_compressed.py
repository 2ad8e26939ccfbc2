"""Rotated ledgers compressed with gzip, bzip2, xz or zstd: recognised by their magic bytes, read as
a stream in bounded memory, and a file that ends early still gives its complete lines.

The suffix never decides: a ``ledger.jsonl.2`` that is gzip is read as gzip, a ``.gz`` that is plain
text as text. Concatenated streams (``cat a.gz b.gz``, multi-frame zstd) are read through; zero
padding after the last stream is ignored; other trailing bytes are reported (``trailing_data``). A
stream that ends before its end marker (a truncated copy) is reported as ``truncated``: everything
decompressed up to there is kept. Output comes in pieces of at most about ``OUT_CHUNK`` bytes
(zstd: a bounded multiple, see :class:`_Zstd`), so a small file that expands to gigabytes (a
"compression bomb") costs time in proportion to its expanded size, never memory.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import zstandard

OUT_CHUNK = 8 << 20
_IN_CHUNK = 1 << 20
_ZSTD_IN = 1024  # zstd input fed per call (its API has no output bound; 1 KiB expands to <= ~32 MiB)

MAGIC: dict[str, bytes] = {
    "gzip": b"\x1f\x8b",
    "bzip2": b"BZh",
    "xz": b"\xfd7zXZ\x00",
    "zstd": b"\x28\xb5\x2f\xfd",
}


#: Compressions that are recognised but not read: such a file is one finding, not a reject per line.
UNREAD_MAGIC: dict[str, bytes] = {
    "lz4": b"\x04\x22\x4d\x18",
    "zip": b"PK\x03\x04",
    "7z": b"7z\xbc\xaf\x27\x1c",
    "lzip": b"LZIP",
    "lzop": b"\x89LZO",
    "compress": b"\x1f\x9d",
}


def unread_compression(head: bytes) -> str | None:
    """The name of a compression this engine recognises but does not read, from a file's first bytes."""
    return next((name for name, magic in UNREAD_MAGIC.items() if head.startswith(magic)), None)


def compression_of(head: bytes) -> str | None:
    """``gzip``, ``bzip2``, ``xz`` or ``zstd`` from a file's first bytes; None for anything else."""
    for name, magic in MAGIC.items():
        if head.startswith(magic) and (name != "bzip2" or head[3:4].isdigit()):
            return name
    return None


@dataclass
class StreamEnd:
    """How a compressed stream ended: ``complete``, ``truncated`` or ``trailing_data`` (+ bytes)."""

    status: str = "complete"
    trailing: int = 0


class _Stream(Protocol):
    """One compressed stream being decoded: feed input, get bounded output pieces."""

    eof: bool
    unused: bytes  # after eof: the input that followed the stream

    def feed(self, data: bytes) -> Iterator[bytes]: ...


class _Zlib:
    def __init__(self) -> None:
        self._d = zlib.decompressobj(wbits=31)  # gzip framing
        self.eof = False
        self.unused = b""

    def feed(self, data: bytes) -> Iterator[bytes]:
        while True:
            out = self._d.decompress(data, OUT_CHUNK)
            if out:
                yield out
            data = self._d.unconsumed_tail
            if self._d.eof:
                self.eof, self.unused = True, self._d.unused_data
                return
            if not data and len(out) < OUT_CHUNK:
                return


class _BzLzma:
    def __init__(self, kind: str) -> None:
        self._d: bz2.BZ2Decompressor | lzma.LZMADecompressor = (
            bz2.BZ2Decompressor() if kind == "bzip2" else lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
        )
        self.eof = False
        self.unused = b""

    def feed(self, data: bytes) -> Iterator[bytes]:
        out = self._d.decompress(data, OUT_CHUNK)
        while True:
            if out:
                yield out
            if self._d.eof:
                self.eof, self.unused = True, self._d.unused_data
                return
            if self._d.needs_input:
                return
            out = self._d.decompress(b"", OUT_CHUNK)


class _Zstd:
    """zstandard's decompressobj has no output bound: it is fed 1 KiB at a time (at most about 32
    MiB of output each), its output gathered into pieces of about OUT_CHUNK."""

    def __init__(self) -> None:
        self._d = zstandard.ZstdDecompressor().decompressobj()
        self.eof = False
        self.unused = b""

    def feed(self, data: bytes) -> Iterator[bytes]:
        gathered: list[bytes] = []
        size = 0
        for i in range(0, len(data), _ZSTD_IN):
            out = self._d.decompress(data[i : i + _ZSTD_IN])
            if out:
                gathered.append(out)
                size += len(out)
                if size >= OUT_CHUNK:
                    yield b"".join(gathered)
                    gathered, size = [], 0
            if self._d.eof:
                self.eof, self.unused = True, self._d.unused_data + data[i + _ZSTD_IN :]
                break
        if gathered:
            yield b"".join(gathered)


def _new_stream(kind: str) -> _Stream:
    if kind == "gzip":
        return _Zlib()
    if kind == "zstd":
        return _Zstd()
    return _BzLzma(kind)


def _decode(chunks: Iterator[bytes], kind: str, end: StreamEnd) -> Iterator[bytes]:
    stream: _Stream | None = None
    held = b""  # the start of a next stream, too short yet to check its magic bytes
    for raw in chunks:
        data = held + raw
        held = b""
        while data:
            if stream is None:
                data = data.lstrip(b"\x00")  # zero padding between or after streams
                if not data:
                    break
                if len(data) < 6:
                    held = data
                    break
                if compression_of(data[:6]) != kind:
                    end.status = "trailing_data"
                    end.trailing = len(data) + sum(len(rest) for rest in chunks)
                    return
                stream = _new_stream(kind)
            yield from stream.feed(data)
            if stream.eof:
                data, stream = stream.unused, None
            else:
                data = b""
    if held and held.strip(b"\x00"):
        end.status, end.trailing = "trailing_data", len(held)
    elif stream is not None:
        end.status = "truncated"


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        yield from iter(lambda: fh.read(_IN_CHUNK), b"")


def decompressed(path: Path, kind: str, end: StreamEnd) -> Iterator[bytes]:
    """The decompressed bytes of ``path`` in pieces; ``end`` says how the stream ended."""
    return _decode(_chunks(path), kind, end)
