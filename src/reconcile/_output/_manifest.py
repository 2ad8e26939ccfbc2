"""A committed period's ``manifest.json`` (SPEC section 5), typed end to end.

A run builds a :class:`Manifest` from its :class:`RunInputs` (what, with its ingests, decides its
rows), its role counts, what it replaces and reuses, the :class:`Figures` read back from its staged
files, and, at commit, its row counts, the record of each of its files (``files``: size, rows,
SHA-256, by path relative to the output folder; ``_integrity``), bill version and commit instant. The file is
:meth:`Manifest.to_json` (flat keys, written sorted), read back by :meth:`Manifest.from_json`. A
manifest written by an earlier version of the engine may lack the later keys (``replaces``,
``reused``, ``version``, ``committed_at``, ...): they read as absent (``None`` or empty), never as
an error (a manifest without its ``period`` takes its folder's); a manifest without its ``run_id`` is
not one, and is refused naming the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reconcile._core._files import read_json
from reconcile._core._integrity import FileRecord, records_from_json, records_to_json
from reconcile._core._jsonvalue import JsonObject, JsonValue, as_object, opt_int, opt_str
from reconcile._output import _layout
from reconcile.exceptions import OutputError


def _str_map(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in as_object(value).items()}


def _int_map(value: object) -> dict[str, int]:
    return {str(k): int(v) for k, v in as_object(value).items() if isinstance(v, int)}


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list | tuple) else ()


def _json(value: object) -> JsonValue:
    """``value`` as read from JSON (checked, so the type is honest)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    raise TypeError(f"not a JSON value: {value!r}")


@dataclass(frozen=True)
class RunOptions:
    """The manifest's ``options``: how pairing, attribution and contracts ran.

    The contracts fields are written only when a contracts file was given (a manifest of a run
    without one reads as it did): ``contracts`` the file as given, ``contracts_sha256`` the digest
    of the terms the period read (part of ``run_id``; ``none`` when no contract was in effect in
    it), ``contract_terms`` those terms by contract id (what a restatement names), ``commitments``
    the monthly minimums of the period's month (what ``invoice_lines`` bills a true-up from).
    """

    double_start: str
    stale_after_ns: int | None
    tenants: str | None  # the tenants file as given (not part of the inputs: its digest is)
    tenants_sha256: str | None
    contracts: str | None = None
    contracts_sha256: str | None = None
    contract_terms: dict[str, dict[str, str]] = field(default_factory=dict)
    commitments: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> JsonObject:
        """The ``options`` object."""
        out: JsonObject = {
            "double_start": self.double_start,
            "stale_after_ns": self.stale_after_ns,
            "tenants": self.tenants,
            "tenants_sha256": self.tenants_sha256,
        }
        if self.contracts is not None or self.contracts_sha256 is not None:
            out["contracts"] = self.contracts
            out["contracts_sha256"] = self.contracts_sha256
            out["contract_terms"] = {k: dict(v) for k, v in sorted(self.contract_terms.items())}
            out["commitments"] = [dict(c) for c in self.commitments]
        return out

    @classmethod
    def from_json(cls, data: object) -> RunOptions:
        """The ``options`` object read back."""
        found = as_object(data)
        terms = found.get("contract_terms")
        listed = found.get("commitments")
        return cls(
            str(found.get("double_start", "")),
            opt_int(found.get("stale_after_ns")),
            opt_str(found.get("tenants")),
            opt_str(found.get("tenants_sha256")),
            opt_str(found.get("contracts")),
            opt_str(found.get("contracts_sha256")),
            {str(k): _str_map(v) for k, v in terms.items()} if isinstance(terms, dict) else {},
            [_str_map(c) for c in listed] if isinstance(listed, list) else [],
        )

    def same_rows(self, other: RunOptions) -> bool:
        """Whether these options decide the same rows as ``other`` (the files' paths aside)."""
        return (self.double_start, self.stale_after_ns, self.tenants_sha256, self.contracts_sha256) == (
            other.double_start,
            other.stale_after_ns,
            other.tenants_sha256,
            other.contracts_sha256,
        )


@dataclass(frozen=True)
class RunInputs:
    """What, with the ingests it reads, decides a run's rows (the manifest's first fields)."""

    period: str
    period_start: str
    period_end: str
    cut_off: str
    ingests: tuple[str, ...]
    price_version: str
    options: RunOptions
    versions: dict[str, str]  # this package, the run and output formats, DuckDB, polars, pyarrow

    def to_json(self) -> JsonObject:
        """These fields as the manifest writes them."""
        return {
            "period": self.period,
            "period_start": self.period_start,
            "period_end": self.period_end,
            "cut_off": self.cut_off,
            "ingests": list(self.ingests),
            "price_version": self.price_version,
            "options": self.options.to_json(),
            "versions": dict(self.versions),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> RunInputs:
        """These fields read back from a manifest."""
        return cls(
            str(data.get("period", "")),
            str(data.get("period_start", "")),
            str(data.get("period_end", "")),
            str(data.get("cut_off", "")),
            _strings(data.get("ingests")),
            str(data.get("price_version", "")),
            RunOptions.from_json(data.get("options")),
            _str_map(data.get("versions")),
        )


@dataclass(frozen=True)
class NewIngest:
    """An ingest a replacing run reads and the replaced one did not: its lines before the period's
    end and the first of them as ``file:line``."""

    ingest_id: str
    lines: int
    first: tuple[str, ...]

    def to_json(self) -> JsonObject:
        """The cause's entry."""
        return {"ingest_id": self.ingest_id, "lines": self.lines, "first": list(self.first)}


@dataclass(frozen=True)
class Change:
    """One input that changed between two runs of a period."""

    before: JsonValue
    after: JsonValue

    def to_json(self) -> JsonObject:
        """``{"from": ..., "to": ...}``."""
        return {"from": self.before, "to": self.after}


@dataclass(frozen=True)
class Cause:
    """Why a run replaced the committed run of its period."""

    new_ingests: tuple[NewIngest, ...] = ()
    removed_ingests: tuple[str, ...] = ()
    changed: dict[str, Change] = field(default_factory=dict)  # input -> its change

    def to_json(self) -> JsonObject:
        """The ``cause`` object."""
        return {
            "new_ingests": [i.to_json() for i in self.new_ingests],
            "removed_ingests": list(self.removed_ingests),
            "changed": {k: c.to_json() for k, c in self.changed.items()},
        }

    @classmethod
    def from_json(cls, data: object) -> Cause:
        """The ``cause`` object read back."""
        found = as_object(data)
        listed = found.get("new_ingests")
        new = [as_object(i) for i in listed if isinstance(i, Mapping)] if isinstance(listed, list) else []
        changed = {
            str(k): Change(_json(as_object(v).get("from")), _json(as_object(v).get("to")))
            for k, v in as_object(found.get("changed")).items()
        }
        return cls(
            tuple(
                NewIngest(str(i.get("ingest_id", "")), int(str(i.get("lines", 0))), _strings(i.get("first")))
                for i in new
            ),
            _strings(found.get("removed_ingests")),
            changed,
        )


@dataclass(frozen=True)
class Replaces:
    """The committed run a run replaced: its run_id, bill version, totals, and why."""

    run_id: str
    version: int | None
    totals: dict[str, str]  # currency -> invoice total of the replaced run
    cause: Cause
    why: str

    def to_json(self) -> JsonObject:
        """The ``replaces`` object."""
        return {
            "run_id": self.run_id,
            "version": self.version,
            "totals": dict(self.totals),
            "cause": self.cause.to_json(),
            "why": self.why,
        }

    @classmethod
    def from_json(cls, data: object) -> Replaces | None:
        """The ``replaces`` object read back (None: it replaced nothing)."""
        if not isinstance(data, Mapping):
            return None
        return cls(
            str(data.get("run_id", "")),
            opt_int(data.get("version")),
            _str_map(data.get("totals")),
            Cause.from_json(data.get("cause")),
            str(data.get("why", "")),
        )


@dataclass(frozen=True)
class Reused:
    """The committed run whose rows about resources no new ingest touched a run kept (``_reuse``)."""

    run_id: str
    new_ingests: tuple[str, ...]

    def to_json(self) -> JsonObject:
        """The ``reused`` object."""
        return {"run_id": self.run_id, "new_ingests": list(self.new_ingests)}

    @classmethod
    def from_json(cls, data: object) -> Reused | None:
        """The ``reused`` object read back (None: everything was recomputed)."""
        if not isinstance(data, Mapping):
            return None
        return cls(str(data.get("run_id", "")), _strings(data.get("new_ingests")))


@dataclass(frozen=True)
class Figures:
    """What a period's written files hold (``_figures``): counts, totals and quantities."""

    intervals: dict[str, int] = field(default_factory=dict)  # status -> intervals
    anomalies: dict[str, int] = field(default_factory=dict)  # code -> anomalies
    totals: dict[str, str] = field(default_factory=dict)  # currency -> invoice total (minor units)
    totals_exact: dict[str, str] = field(default_factory=dict)  # currency -> sum of slice amounts
    totals_by_family: dict[str, dict[str, str]] = field(default_factory=dict)
    quantities: dict[str, str] = field(default_factory=dict)  # meter -> billed quantity
    unattributed_slices: int = 0

    def to_json(self) -> JsonObject:
        """These fields as the manifest writes them."""
        return {
            "intervals": dict(self.intervals),
            "anomalies": dict(self.anomalies),
            "totals": dict(self.totals),
            "totals_exact": dict(self.totals_exact),
            "totals_by_family": {f: dict(t) for f, t in self.totals_by_family.items()},
            "quantities": dict(self.quantities),
            "unattributed_slices": self.unattributed_slices,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Figures:
        """These fields read back from a manifest."""
        return cls(
            _int_map(data.get("intervals")),
            _int_map(data.get("anomalies")),
            _str_map(data.get("totals")),
            _str_map(data.get("totals_exact")),
            {str(f): _str_map(t) for f, t in as_object(data.get("totals_by_family")).items()},
            _str_map(data.get("quantities")),
            opt_int(data.get("unattributed_slices")) or 0,
        )


@dataclass(frozen=True)
class Manifest:
    """One period's ``manifest.json`` (module doc)."""

    run_id: str
    inputs: RunInputs
    roles: dict[str, int]  # events before the cut-off, start, stop, unmatched_stop
    currency: str
    price_book: str
    replaces: Replaces | None = None
    reused: Reused | None = None
    figures: Figures = field(default_factory=Figures)
    rows: dict[str, int] | None = None  # table -> rows written (set at commit)
    files: dict[str, FileRecord] | None = None  # relative path -> record (set at commit; None: older)
    version: int | None = None  # the period's bill version (set at commit)
    committed_at: str | None = None  # set at commit

    @property
    def period(self) -> str:
        """The period's name (``YYYY-MM-DD`` or ``YYYY-MM``)."""
        return self.inputs.period

    @property
    def totals(self) -> dict[str, str]:
        """Currency -> the invoice total."""
        return self.figures.totals

    def to_json(self) -> JsonObject:
        """The manifest as written (its keys sorted on writing)."""
        document: JsonObject = {
            "run_id": self.run_id,
            **self.inputs.to_json(),
            "replaces": None if self.replaces is None else self.replaces.to_json(),
            "roles": dict(self.roles),
            "currency": self.currency,
            "price_book": self.price_book,
            "reused": None if self.reused is None else self.reused.to_json(),
            **self.figures.to_json(),
        }
        if self.rows is not None:
            document["rows"] = dict(self.rows)
        if self.files is not None:
            document["files"] = records_to_json(self.files)
        if self.version is not None:
            document["version"] = self.version
        if self.committed_at is not None:
            document["committed_at"] = self.committed_at
        return document

    @classmethod
    def from_json(cls, data: object, where: str, *, period: str | None = None) -> Manifest:
        """A manifest read back; :class:`OutputError` naming ``where`` when it is not one.
        ``period``: the period its folder names, for a manifest that does not say it."""
        if not isinstance(data, Mapping) or not isinstance(data.get("run_id"), str):
            raise OutputError(f"{where}: not a run manifest (no run_id)")
        if not isinstance(data.get("period", period), str):
            raise OutputError(f"{where}: not a run manifest (no period)")
        rows = data.get("rows")
        try:
            files = None if data.get("files") is None else records_from_json(data.get("files"), where)
        except ValueError as exc:
            raise OutputError(f"{where}: a bad file record: {exc}") from None
        return cls(
            run_id=str(data["run_id"]),
            inputs=RunInputs.from_json({"period": period, **data}),
            roles=_int_map(data.get("roles")),
            currency=str(data.get("currency", "")),
            price_book=str(data.get("price_book", "")),
            replaces=Replaces.from_json(data.get("replaces")),
            reused=Reused.from_json(data.get("reused")),
            figures=Figures.from_json(data),
            rows=_int_map(rows) if isinstance(rows, Mapping) else None,
            files=files,
            version=opt_int(data.get("version")),
            committed_at=opt_str(data.get("committed_at")),
        )


def read_manifest(path: str | Path, period_name: str) -> Manifest | None:
    """The committed manifest of one period in an output folder, or None (no recovery, no lock)."""
    file = _layout.manifest_file(Path(path), period_name)
    found = read_json(file, "manifest")
    return None if found is None else Manifest.from_json(found, str(file), period=period_name)


def read_manifests(path: str | Path) -> dict[str, Manifest]:
    """Every committed manifest in an output folder, by period name (no recovery, no lock)."""
    found: dict[str, Manifest] = {}
    for folder in _layout.manifest_folders(Path(path)):
        manifest = read_manifest(path, _layout.period_of(folder))
        if manifest is not None:
            found[_layout.period_of(folder)] = manifest
    return found
