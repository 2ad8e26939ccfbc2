"""Garbage lines: per SPEC reject code, lines ingest must reject with that code and no earlier one."""

from __future__ import annotations

from reconcile._core._schema import REJECT_CODES

GARBAGE_CODES: tuple[str, ...] = tuple(code for code in REJECT_CODES if code != "line_too_long")
"""The reject codes garbage lines produce (SPEC section 2), one fault per line. ``line_too_long`` is
available on request (``garbage_codes=(..., "line_too_long")``) but not in the default mix."""

# Per reject code, three variants; @VM@, @N@ and @WHEN@ are filled in. Each has exactly one fault, so
# its code is the one ingest must report. "\udcff" is written as the lone byte 0xff (surrogateescape).
_GARBAGE: dict[str, tuple[str, str, str]] = {
    "blank": ("", "", ""),
    "invalid_utf8": (
        '{"kind":"vm.compute.start","vm_id":"vm-\udcff-@N@","shape":{},"emitted_at":"@WHEN@"}',
        '{"kind":"vm.compute.stop","vm_id":"@VM@","reason":"stop-\udcfe","shape":{},"emitted_at":"@WHEN@"}',
        '{"kind":"snap.storage.start","snapshot_id":"s\udcc3-@N@","shape":{},"emitted_at":"@WHEN@"}',
    ),
    "malformed_json": (
        "not json at all",
        '{"kind":"vm.compute.start","vm_id":"@VM@","shape":{"cpu":1},"emitted_',
        '{"kind""vm.compute.start","vm_id":"@VM@","shape":{"cpu":1},"emitted_at":"@WHEN@"}',
    ),
    "not_an_object": ("[1,2,3]", "null", '"vm.compute.start"'),
    "wrong_type": (
        '{"kind":"vm.compute.start","vm_id":@N@,"shape":{"cpu":1},"emitted_at":"@WHEN@"}',
        '{"kind":"vm.compute.start","vm_id":"@VM@","shape":"big","emitted_at":"@WHEN@"}',
        '{"kind":"vm.compute.stop","vm_id":"@VM@","reason":7,"shape":{},"emitted_at":"@WHEN@"}',
    ),
    "unknown_kind": (
        '{"kind":"vm.gpu.start","vm_id":"@VM@","shape":{"cpu":1},"emitted_at":"@WHEN@"}',
        '{"kind":"vm.compute.pause","vm_id":"@VM@","shape":{},"emitted_at":"@WHEN@"}',
        '{"kind":"snap.storage.resize","snapshot_id":"s-@N@","shape":{},"emitted_at":"@WHEN@"}',
    ),
    "missing_id": (
        '{"kind":"vm.compute.start","shape":{"cpu":1},"emitted_at":"@WHEN@"}',
        '{"kind":"snap.storage.start","vm_id":"@VM@","shape":{"storage_bytes":1},"emitted_at":"@WHEN@"}',
        '{"kind":"vm.storage.stop","vm_id":"","shape":{},"emitted_at":"@WHEN@"}',
    ),
    "bad_timestamp": (
        '{"kind":"vm.compute.stop","vm_id":"@VM@","shape":{},"emitted_at":"yesterday"}',
        '{"kind":"vm.compute.stop","vm_id":"@VM@","shape":{},"emitted_at":"@LOCAL@"}',
        '{"kind":"vm.compute.stop","vm_id":"@VM@","shape":{}}',
    ),
    "zero_timestamp": (
        '{"kind":"vm.compute.start","vm_id":"@VM@","shape":{"cpu":1},"emitted_at":"0001-01-01T00:00:00Z"}',
        '{"kind":"vm.compute.stop","vm_id":"@VM@","shape":{},"emitted_at":"0001-01-01T00:00:00Z"}',
        '{"kind":"snap.storage.stop","snapshot_id":"s-@N@","shape":{},"emitted_at":"0001-01-01T00:00:00Z"}',
    ),
    "implausible_timestamp": (
        '{"kind":"vm.compute.start","vm_id":"@VM@","shape":{"cpu":1},"emitted_at":"1999-12-31T23:59:59Z"}',
        '{"kind":"vm.compute.start","vm_id":"@VM@","shape":{"cpu":1},"emitted_at":"2200-01-01T00:00:00Z"}',
        '{"kind":"vm.compute.stop","vm_id":"@VM@","shape":{},"emitted_at":"1970-01-01T00:00:00.5Z"}',
    ),
    "bad_shape": (
        '{"kind":"vm.compute.start","vm_id":"@VM@","shape":{"cpu":-2},"emitted_at":"@WHEN@"}',
        '{"kind":"vm.compute.start","vm_id":"@VM@","shape":{"cpu":1.5},"emitted_at":"@WHEN@"}',
        '{"kind":"vm.storage.start","vm_id":"@VM@","shape":{"storage_bytes":9223372036854775808},'
        '"emitted_at":"@WHEN@"}',
    ),
    "line_too_long": (
        '{"kind":"vm.compute.start","vm_id":"@VM@","pad":"@PAD@","shape":{},"emitted_at":"@WHEN@"}',
    )
    * 3,
}


def garbage_line(code: str, variant: int, when: str, n: int = 0) -> str:
    """A line ingest must reject with ``code`` and no earlier code (``when``: a valid RFC 3339 instant).

    ``variant`` (0-2) picks one of three ways to make the fault; ``n`` makes ids distinct.
    """
    try:
        template = _GARBAGE[code][variant % 3]
    except KeyError:
        raise ValueError(f"unknown garbage code {code!r}; expected one of {sorted(_GARBAGE)}") from None
    line = template.replace("@VM@", f"junk-{n:05d}").replace("@N@", str(n)).replace("@WHEN@", when)
    line = line.replace("@LOCAL@", when[:19])  # a date and time with no zone: not RFC 3339
    return line.replace("@PAD@", "x" * (1 << 20))


def check_garbage_codes(codes: tuple[str, ...]) -> None:
    """Refuse a code :func:`garbage_line` cannot make (``crlf`` is allowed: a valid line made CRLF)."""
    for code in codes:
        if code not in (*_GARBAGE, "crlf"):
            raise ValueError(f"unknown garbage code {code!r}; expected some of {sorted(_GARBAGE)}")
