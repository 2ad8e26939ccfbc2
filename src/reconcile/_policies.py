"""The words a run's options take (standard library only: the command line checks them before the
engine is loaded)."""

from __future__ import annotations

from typing import Literal, TypeAlias

DoubleStartPolicy: TypeAlias = Literal["close", "drop"]
"""What a start while the resource is open does (SPEC section 3): ``close`` the open interval at it
(``inferred``), or ``drop`` the open one."""

DOUBLE_START_POLICIES: tuple[DoubleStartPolicy, ...] = ("close", "drop")
