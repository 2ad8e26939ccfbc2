"""Regenerate tests/data/go_entries_extra.jsonl: seeded cases encoded by Go's own encoding/json.

    (cd /tmp && cp -r ../shared/tools/gowire . && cd gowire && go build -o gowire .)
    python tests/recorder/make_go_vectors.py /tmp/gowire/gowire > tests/data/go_entries_extra.jsonl

The toolchain on Debian is Go 1.19, which writes \\b and \\f as \\u0008 and \\u000c; SPEC section 1 is
Go 1.22+, so those two escapes are rewritten to the short forms (each rewritten record says so in its
"go" field). Everything else is Go's output unchanged.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys

KINDS = ["vm.compute.start", "vm.compute.stop", "vm.storage.start", "vm.storage.stop"]
KINDS += ["snap.storage.start", "snap.storage.stop"]
REASONS = ["", "boot", "restart", "clone", "restore", "hibernate-wake", "stop-user", "stop-crash"]
REASONS += ["vm-rm", "snap-rm"]
ALPHA = [*"abcXYZ019-_.:/ ", '"', "\\", "<", ">", "&", "'", "\x00", "\x01", "\t", "\n", "\r", "\x1b"]
ALPHA += ["\x1f", "\x7f", "é", "雪", "\u2028", "\u2029", "\ufffd", "\ufeff", "\uffff", "😀", "\u0085"]
ALPHA += ["\u00a0", "\u200b", "+", "%"]
ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)")


def make_cases(rng: random.Random) -> list[dict[str, object]]:
    def text(p_empty: float, extra: tuple[str, ...] = ()) -> str:
        if rng.random() < p_empty:
            return ""
        alphabet = ALPHA + list(extra)
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))

    def integer() -> int:
        choice = rng.random()
        if choice < 0.3:
            return 0
        if choice < 0.5:
            return rng.choice([1, -1, 2**63 - 1, -(2**63), 2**31, 2**53 + 1, 10**18])
        return rng.randint(-(2**63), 2**63 - 1) if rng.random() < 0.5 else rng.randint(0, 2**40)

    def case(name: str, bf: bool = False) -> dict[str, object]:
        extra = ("\b", "\f") if bf else ()
        nanos = rng.randint(-(2**63), 2**63 - 1)
        r = rng.random()
        if r < 0.5:
            nanos -= nanos % 1000  # microsecond precision: round-trips through Python
        elif r < 0.7:
            nanos -= nanos % 1_000_000_000
        offset = 0 if rng.random() < 0.3 else rng.randint(-1439, 1439) * 60
        kind = rng.choice(KINDS) if rng.random() < 0.9 else text(0) or "x"
        reason = rng.choice(REASONS) if rng.random() < 0.9 else text(0)
        return {
            "name": name,
            "kind": kind,
            "vm_id": text(0.2, extra),
            "snapshot_id": text(0.5, extra),
            "source_snapshot_id": text(0.6, extra),
            "reason": reason,
            "hypervisor": text(0.3, extra),
            "cpu": integer(),
            "mem_bytes": integer(),
            "storage_bytes": integer(),
            "unix_nanos": nanos,
            "offset_seconds": offset,
        }

    cases = [case(f"random-{i}") for i in range(60)]
    cases += [case(f"random-bf-{i}", bf=True) for i in range(20)]
    fixed = [
        ("offset-plus-0545", 1779238923123000000, 20700),
        ("offset-minus-0930", 1779238923000001000, -34200),
        ("offset-plus-14", 1779238923100000000, 50400),
        ("offset-minus-12", 1779238923010000000, -43200),
        ("offset-minus-0001", 1779238923000000000, -60),
        ("fraction-1-digit", 1779238923100000000, 0),
        ("fraction-3-digits", 1779238923123000000, 0),
        ("fraction-6-digits", 1779238923000001000, 0),
        ("fraction-8-digits", 1779238923000000010, 0),
        ("min-int64-nanos", -(2**63), 0),
        ("pre-1970-offset", -86400_000_000_000 * 365 * 60, -18000),
        ("new-year-utc", 1798761600000000000, 3600),
    ]
    base = {"kind": "vm.compute.start", "vm_id": "vm-t", "snapshot_id": "", "source_snapshot_id": ""}
    base |= {"reason": "boot", "hypervisor": "firecracker", "cpu": 2, "mem_bytes": 0, "storage_bytes": 0}
    for name, nanos, offset in fixed:
        cases.append({"name": name, **base, "unix_nanos": nanos, "offset_seconds": offset})
    cases.append(
        {**base, "name": "bf-short-forms", "vm_id": "a\bb\fc", "snapshot_id": "\f", "reason": ""}
        | {"hypervisor": "\b", "cpu": 0, "storage_bytes": 1, "unix_nanos": 1779238923000000000}
        | {"offset_seconds": 0}
    )
    cases.append(
        {**base, "name": "int64-min-shape", "kind": "vm.storage.stop", "vm_id": "vm-min", "reason": "vm-rm"}
        | {"hypervisor": "", "cpu": -(2**63), "mem_bytes": -(2**63), "storage_bytes": -(2**63)}
        | {"unix_nanos": 1779238923000000000, "offset_seconds": 0}
    )
    cases.append(
        {**base, "name": "all-fields", "kind": "snap.storage.start", "vm_id": "vm-all"}
        | {"snapshot_id": "snap-all", "source_snapshot_id": "snap-src", "reason": "clone"}
        | {"hypervisor": "cloud-hypervisor", "cpu": 1, "mem_bytes": 2, "storage_bytes": 3}
        | {"unix_nanos": 1779238923999999000, "offset_seconds": -3600}
    )
    return cases


def go122(line: str) -> str:
    """Go 1.19's \\u0008 and \\u000c escapes as Go 1.22+ writes them (\\b, \\f)."""
    short = {"u0008": "\\b", "u000c": "\\f"}
    return ESCAPE.sub(lambda m: short.get(m.group(1), m.group(0)), line)


def main() -> None:
    gowire = sys.argv[1]
    cases = make_cases(random.Random(20261126))
    stdin = "".join(json.dumps(case) + "\n" for case in cases)
    out = subprocess.run(
        [gowire, "-mode", "vectors"], input=stdin, capture_output=True, text=True, check=True
    )
    version = subprocess.run(["go", "version"], capture_output=True, text=True, check=True).stdout.split()[2]
    for raw in out.stdout.split("\n")[:-1]:  # not splitlines(): U+0085 and U+2028 are not line ends here
        record = json.loads(raw)
        line = go122(record["line"])
        row = {"case": record["case"], "line": line, "go": version}
        if line != record["line"]:
            row["go"] = f"{version}, \\u0008 and \\u000c rewritten to Go 1.22's \\b and \\f"
        sys.stdout.write(json.dumps(row, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
