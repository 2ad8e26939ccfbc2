"""The wire form of an entry up to its instant: Go's field order, omitempty, the shape's non-zero members.

One encoder for the whole distribution: :meth:`recorder.Entry.to_line` writes every line with it, and
``reconcile.testing`` (the seeded ledger generator, shipped in the same wheel) builds its lines with
it, so the two can never disagree on the format. :func:`line_head` is private to the distribution: it
is not in ``recorder.__all__`` and may change with the packages that use it.

Strings go through the C string quoter of the standard ``json`` module (the escaping Go shares with
it); the few characters Go escapes on top (``<`` ``>`` ``&`` U+2028 U+2029, invalid UTF-8) are left
to the caller, who fixes them up on the whole line (``Entry.to_line``), only when present.
"""

from __future__ import annotations

from json.encoder import encode_basestring  # the C quoter when _json is available
from typing import Final

_CACHE_SIZE: Final = 1024  # entries per cache below; a cache that fills up starts again
_SHAPE_JSON: dict[tuple[int, int, int], str] = {}

# Members that repeat from entry to entry (kind, reason, hypervisor), quoted with their field name.
# Raw: the line-wide fix-ups of ``Entry.to_line`` apply to them like to the rest.
_KIND_PARTS: dict[str, str] = {}
_REASON_PARTS: dict[str, str] = {}
_HYPERVISOR_PARTS: dict[str, str] = {}


def _shape_json(shape: tuple[int, int, int]) -> str:
    """The wire form of ``shape``, cached: a fleet has few distinct shapes."""
    wire = _SHAPE_JSON.get(shape)
    if wire is None:
        cpu, mem_bytes, storage_bytes = shape
        members = []
        if cpu:
            members.append(f'"cpu":{cpu}')
        if mem_bytes:
            members.append(f'"mem_bytes":{mem_bytes}')
        if storage_bytes:
            members.append(f'"storage_bytes":{storage_bytes}')
        wire = "{" + ",".join(members) + "}"
        if len(_SHAPE_JSON) >= _CACHE_SIZE:
            _SHAPE_JSON.clear()
        _SHAPE_JSON[shape] = wire
    return wire


def _part(cache: dict[str, str], head: str, value: str) -> str:
    part = head + encode_basestring(value)
    if len(cache) >= _CACHE_SIZE:
        cache.clear()
    cache[value] = part
    return part


def line_head(  # noqa: PLR0917 (the fields in wire order, positional: this is on the emit path)
    kind: str,
    vm_id: str,
    snapshot_id: str,
    source_snapshot_id: str,
    reason: str,
    hypervisor: str,
    shape: tuple[int, int, int],
) -> str:
    """A line up to and including ``"emitted_at":"``, as Go's ``encoding/json`` writes a
    ``metering.Entry``: empty strings omitted, ``shape`` always present with its non-zero members.

    ``shape`` is ``(cpu, mem_bytes, storage_bytes)`` (a :class:`recorder.Shape` is one). The values
    are not checked, and the line-wide fix-ups (``<>&``, U+2028, U+2029, lone surrogates) are the
    caller's: a head of ASCII without ``<>&`` is final as it is.
    """
    quote = encode_basestring
    line = _KIND_PARTS.get(kind) or _part(_KIND_PARTS, '{"kind":', kind)
    if vm_id:
        line += ',"vm_id":' + quote(vm_id)
    if snapshot_id:
        line += ',"snapshot_id":' + quote(snapshot_id)
    if source_snapshot_id:
        line += ',"source_snapshot_id":' + quote(source_snapshot_id)
    if reason:
        line += _REASON_PARTS.get(reason) or _part(_REASON_PARTS, ',"reason":', reason)
    if hypervisor:
        line += _HYPERVISOR_PARTS.get(hypervisor) or _part(_HYPERVISOR_PARTS, ',"hypervisor":', hypervisor)
    return line + ',"shape":' + (_SHAPE_JSON.get(shape) or _shape_json(shape)) + ',"emitted_at":"'
