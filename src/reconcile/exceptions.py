"""Exceptions raised by the reconciler. Every one derives from :class:`ReconcileError`."""

from __future__ import annotations

from os import PathLike


class ReconcileError(Exception):
    """Base class: the job could not be done. The message names the bad file, line or value."""


class UsageError(ReconcileError):
    """The caller asked for something that does not make sense (bad option, bad period)."""


class InputError(ReconcileError):
    """An input path is unreadable, missing, or holds no ledgers."""


class StoreError(ReconcileError):
    """The event store is missing, damaged, or locked by another process."""


class StoreLockedError(StoreError):
    """Another ingest or run holds the lock on the store or output folder."""


class PriceBookError(ReconcileError):
    """The price book is invalid; the message names the file, the entry and the field."""


class ContractsError(ReconcileError):
    """The contracts file is invalid; the message names the file, the contract (with its line), the
    field and the value."""


class PricingError(ReconcileError):
    """A run cannot price its slices: an amount is beyond what the output's money columns hold."""


class TenantsError(ReconcileError):
    """The tenant attribution table is invalid."""


class OutputError(ReconcileError):
    """The output folder cannot be written or read."""


class CloseError(ReconcileError):
    """A month cannot be closed: a period of it has no committed run, or it is closed already."""


class InterruptedRunError(ReconcileError):
    """A run or nightly stopped by SIGINT or SIGTERM; the message says which periods were committed.

    ``exit_code`` is 130 (SIGINT) or 143 (SIGTERM)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class DamagedFileError(ReconcileError):
    """A file the engine wrote is not the file it reads: missing, or its size, row count or content
    hash is not the one recorded when it was committed (``reconcile verify`` lists every such file
    and what it affects). ``path`` is the file; ``expected`` and ``found`` say what differs."""

    def __init__(self, path: str | PathLike[str], expected: str, found: str, hint: str = "") -> None:
        self.path = str(path)
        self.expected = expected
        self.found = found
        self.hint = hint
        super().__init__(
            f"damaged file {self.path}: expected {expected}, found {found}" + (f"; {hint}" if hint else "")
        )


class ResourceError(ReconcileError):
    """The machine ran out of memory or disk while doing the job; the message names the step."""


class SparkEngineError(ReconcileError):
    """The Spark engine could not start or one of its tasks failed; the message says which and why.
    Nothing was committed by the run that raised it: the output is as it was."""
