"""Fault points: the places where crash tests stop a real process, inside the code production runs.

A test sets ``RECONCILE_FAULT=<point>:<action>[,<point>:<action>...]`` for the process it starts;
``action`` is ``kill`` (SIGKILL: a power cut), ``term`` (SIGTERM to itself: ``systemctl stop`` at that
instant) or ``sleep`` / ``sleepN`` (wait N seconds, default 60, so the test can kill it or hold a lock).
Without the variable a point does nothing. The points:

- ingest: ``after-parse`` (every file's lines parsed), ``before-write`` (de-duplicated),
  ``after-events`` (events staged), ``before-commit``, ``before-store-json`` (files in place,
  ``store.json`` not yet), ``after-store-json`` (``files.json`` not yet renamed);
- an output commit (``_write``, ``_close``): ``staging`` (one file staged), ``staged`` (all staged, no
  journal), ``journal`` (the commit point passed, nothing swapped), ``swap`` (the roll-forward swapped
  its first folder), ``swapped`` (every folder swapped, the journal still there), ``committed``
  (journal removed, leftovers not yet);
- a Spark task (``_engines._spark._task``): ``spark-task`` (it wrote a period's files). Executors do
  not have the driver's environment: the driver passes its ``RECONCILE_FAULT`` in the job, and the
  task gives it to :func:`point` as ``spec``.
"""

from __future__ import annotations

import os
import signal
import time

ENV = "RECONCILE_FAULT"


def point(name: str, spec: str | None = None) -> None:
    """Stop here if the test asked for it at ``name`` (module doc): in ``spec``, else ``RECONCILE_FAULT``."""
    spec = spec or os.environ.get(ENV)
    if not spec:
        return
    for item in spec.split(","):
        where, _, action = item.partition(":")
        if where != name:
            continue
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif action == "term":
            os.kill(os.getpid(), signal.SIGTERM)
        elif action.startswith("sleep"):
            time.sleep(float(action[len("sleep") :] or 60))
