"""The nightly job's options from the command line, ``RECONCILE_*`` variables and a TOML file.

So that a systemd unit is one short line (``reconcile nightly --config /etc/reconcile/nightly.toml``),
every option of ``reconcile nightly`` can come from three places; the first that sets it wins:

1. the command line (``--max-silence 6h``);
2. the environment: ``RECONCILE_`` and the option's name in capitals with ``_`` for ``-``
   (``RECONCILE_MAX_SILENCE=6h``; lists comma-separated: ``RECONCILE_FAIL_ON=anomalies,rejects``;
   ``RECONCILE_PATHS`` takes paths separated by ``:``; flags take ``1``/``true``/``yes`` or
   ``0``/``false``/``no``);
3. the TOML file of ``--config`` (or ``RECONCILE_CONFIG``): the same names, with ``-`` or ``_``
   (``max-silence = "6h"``, ``paths = ["/var/log/metering"]``, ``fail-on = ["anomalies"]``).

Then each option's default. Standard library only (``tomllib``): read before the engine is loaded.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

from reconcile._core._policies import DOUBLE_START_POLICIES, ENGINES, DoubleStartPolicy, Engine
from reconcile.exceptions import UsageError

ENV_PREFIX = "RECONCILE_"

OptionValue: TypeAlias = "str | int | float | bool | list[str] | None"
"""An option's value, of its kind (``Option.kind``)."""


@dataclass(frozen=True)
class Option:
    """One nightly option: its name (as on the command line, without ``--``), kind and default."""

    name: str
    kind: str  # "str", "int", "float", "bool", "list" (of str), "paths"
    default: OptionValue
    required: bool = False

    @property
    def dest(self) -> str:
        """The argparse destination."""
        return self.name.replace("-", "_")

    @property
    def env(self) -> str:
        """Its environment variable."""
        return ENV_PREFIX + self.dest.upper()


NIGHTLY: tuple[Option, ...] = (
    Option("paths", "paths", None, required=True),
    Option("store", "str", None, required=True),
    Option("output", "str", None, required=True),
    Option("prices", "str", None, required=True),
    Option("lookback", "int", 35),
    Option("today", "str", None),
    Option("double-start", "str", "close"),
    Option("stale-after", "str", None),
    Option("tenants", "str", None),
    Option("contracts", "str", None),
    Option("max-silence", "str", None),
    Option("fail-on", "list", []),
    Option("fail-on-anomalies", "bool", False),
    Option("wait", "float", 0.0),
    Option("memory-limit", "str", None),
    Option("engine", "str", "duckdb"),
    Option("spark-master", "str", None),
    Option("spark-buckets", "int", None),
    Option("spark-task-memory", "str", None),
    Option("inventory", "paths", []),
    Option("json", "bool", False),
    Option("quiet", "bool", False),
)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _from_text(option: Option, text: str, where: str) -> OptionValue:
    convert: dict[str, Callable[[str], OptionValue]] = {
        "str": str,
        "int": int,
        "float": float,
        "list": lambda t: [x.strip() for x in t.split(",") if x.strip()],
        "paths": lambda t: [x for x in t.split(":") if x],
    }
    if option.kind == "bool":
        if text.strip().lower() in _TRUE:
            return True
        if text.strip().lower() in _FALSE:
            return False
        raise UsageError(f"{where}: {text!r} is not a yes/no value (1, true, yes / 0, false, no)")
    try:
        return convert[option.kind](text)
    except ValueError:
        raise UsageError(
            f"{where}: {text!r} is not a{'n' if option.kind == 'int' else ''} {option.kind}"
        ) from None


def _from_toml(option: Option, value: object, where: str) -> OptionValue:
    wanted: dict[str, tuple[type, ...]] = {
        "str": (str,),
        "int": (int,),
        "float": (int, float),
        "bool": (bool,),
        "list": (list,),
        "paths": (list, str),
    }
    if (isinstance(value, bool) and option.kind in {"int", "float"}) or not isinstance(
        value, wanted[option.kind]
    ):
        raise UsageError(f"{where}: {value!r} is not a {option.kind}")
    if option.kind == "paths" and isinstance(value, str):
        return [value]
    if isinstance(value, list):
        if not all(isinstance(x, str) for x in value):
            raise UsageError(f"{where}: every item must be a string")
        return [str(x) for x in value]
    if isinstance(value, str | int | float | bool):
        return value
    raise UsageError(f"{where}: {value!r} is not a {option.kind}")


def load_file(path: str | os.PathLike[str], options: tuple[Option, ...] = NIGHTLY) -> dict[str, OptionValue]:
    """The options a TOML file sets, by destination; UsageError naming the file and the key."""
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"--config {file}: cannot read: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"--config {file}: {exc}") from None
    by_name = {o.name: o for o in options} | {o.dest: o for o in options}
    found: dict[str, OptionValue] = {}
    for key, value in data.items():
        option = by_name.get(key)
        if option is None:
            known = ", ".join(o.name for o in options)
            raise UsageError(f"--config {file}: unknown option {key!r} (known: {known})")
        found[option.dest] = _from_toml(option, value, f"--config {file}: {key}")
    return found


def resolve(
    given: Mapping[str, object],
    *,
    environ: Mapping[str, str] | None = None,
    options: tuple[Option, ...] = NIGHTLY,
) -> dict[str, OptionValue]:
    """Every option's value, by destination: ``given`` (the command line, None where not given),
    else the environment, else ``given['config']``'s file (or ``RECONCILE_CONFIG``), else the
    default. A required option set nowhere is a UsageError naming the three places."""
    env = os.environ if environ is None else environ
    config = given.get("config") or env.get(ENV_PREFIX + "CONFIG")
    from_file = load_file(str(config), options) if config else {}
    values: dict[str, OptionValue] = {}
    for option in options:
        value = _given(given.get(option.dest))
        if value is None or value is False or value == []:
            text = env.get(option.env)
            if text is not None and text != "":
                value = _from_text(option, text, option.env)
            elif option.dest in from_file:
                value = from_file[option.dest]
            elif value is None or value == []:
                value = option.default
        if option.required and not value:
            raise UsageError(
                f"--{option.name} is required (on the command line, as {option.env}, or as"
                f" {option.name} in --config FILE)"
            )
        values[option.dest] = value
    return values


def _given(value: object) -> OptionValue:
    """A command-line value (argparse gives the option's kind, or None)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return str(value)  # a Path


@dataclass(frozen=True)
class NightlyOptions:
    """Every option of ``reconcile nightly``, resolved (:func:`resolve`) and typed."""

    paths: list[str]
    store: str
    output: str
    prices: str
    lookback: int
    today: str | None
    double_start: DoubleStartPolicy
    stale_after: str | None
    tenants: str | None
    contracts: str | None
    max_silence: str | None
    fail_on: list[str]
    fail_on_anomalies: bool
    wait: float
    memory_limit: str | None
    engine: Engine
    spark_master: str | None
    spark_buckets: int | None
    spark_task_memory: str | None
    inventory: list[str]
    json: bool
    quiet: bool

    @classmethod
    def of(cls, values: Mapping[str, OptionValue]) -> NightlyOptions:
        """The options from :func:`resolve`'s values (each checked against its kind there)."""

        def text(name: str) -> str | None:
            value = values.get(name)
            return None if value is None else str(value)

        def strings(name: str) -> list[str]:
            value = values.get(name)
            return [str(v) for v in value] if isinstance(value, list) else []

        lookback, wait = values.get("lookback"), values.get("wait")
        engine = values.get("engine") or "duckdb"
        if engine not in ENGINES:
            raise UsageError(f"--engine {engine!r}: expected one of {', '.join(ENGINES)}")
        buckets = values.get("spark_buckets")
        if buckets is not None and (not isinstance(buckets, int) or isinstance(buckets, bool) or buckets < 1):
            raise UsageError(f"--spark-buckets {buckets!r}: expected a count of 1 or more")
        double_start = values.get("double_start") or "close"
        if double_start not in DOUBLE_START_POLICIES:
            raise UsageError(
                f"--double-start {double_start!r}: expected one of {', '.join(DOUBLE_START_POLICIES)}"
            )
        return cls(
            paths=strings("paths"),
            store=str(values["store"]),
            output=str(values["output"]),
            prices=str(values["prices"]),
            lookback=lookback if isinstance(lookback, int) and not isinstance(lookback, bool) else 35,
            today=text("today"),
            double_start="drop" if double_start == "drop" else "close",
            stale_after=text("stale_after"),
            tenants=text("tenants"),
            contracts=text("contracts"),
            max_silence=text("max_silence"),
            fail_on=strings("fail_on"),
            fail_on_anomalies=values.get("fail_on_anomalies") is True,
            wait=float(wait) if isinstance(wait, int | float) and not isinstance(wait, bool) else 0.0,
            memory_limit=text("memory_limit"),
            engine="spark" if engine == "spark" else "duckdb",
            spark_master=text("spark_master"),
            spark_buckets=buckets if isinstance(buckets, int) else None,
            spark_task_memory=text("spark_task_memory"),
            inventory=strings("inventory"),
            json=values.get("json") is True,
            quiet=values.get("quiet") is True,
        )
