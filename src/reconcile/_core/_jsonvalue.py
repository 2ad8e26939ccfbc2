"""The types of JSON documents (manifests, summaries, ``--json`` output): no ``Any`` in signatures."""

from __future__ import annotations

from typing import TypeAlias

JsonValue: TypeAlias = "str | int | float | bool | list[JsonValue] | dict[str, JsonValue] | None"
"""A value as ``json.loads`` gives it and ``json.dumps`` takes it."""

JsonObject: TypeAlias = "dict[str, JsonValue]"
"""A JSON object."""


def as_int(value: object, what: str) -> int:
    """``value`` as an integer (a JSON number or digit string); ValueError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{what}: {value!r} is not an integer")
    return int(value)


def opt_int(value: object) -> int | None:
    """``value`` when it is an integer, else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def opt_str(value: object) -> str | None:
    """``value`` as text, None staying None."""
    return None if value is None else str(value)


def as_object(value: object) -> dict[str, JsonValue]:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[JsonValue]:
    """``value`` when it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []
