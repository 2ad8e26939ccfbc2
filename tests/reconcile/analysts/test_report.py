"""`reconcile report`: one self-contained HTML page per period, its sections and charts, rendered by
a real browser (headless Chromium)."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from reconcile import plots
from reconcile._analysts._report import SECTIONS, write_report
from reconcile._cli import main
from reconcile.exceptions import OutputError, UsageError

PNG = b"\x89PNG\r\n\x1a\n"


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    assert found, "a Chromium is needed for this test: `apt-get install chromium` (.ci/run installs it)"
    return found


def _browser(html: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", *args]
    return subprocess.run([*command, html.as_uri()], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def report(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("report") / "report.html"
    argv = ["report", "--output", str(demo_root / "output"), "--period", "2026-11", "--to", str(dest)]
    assert main([*argv, "--store", str(demo_root / "store"), "--quiet"]) == 0
    return dest


def test_the_page_holds_every_section_and_real_charts(report: Path) -> None:
    """Each section is there; each chart is an embedded PNG; nothing is fetched from elsewhere."""
    text = report.read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f'<section id="{section}">' in text, section
    images = re.findall(r'<img alt="([^"]*)" src="data:image/png;base64,([^"]+)"', text)
    assert len(images) >= 5
    for alt, data in images:
        assert alt
        assert base64.b64decode(data).startswith(PNG)
    assert not re.search(r'(src|href)="(https?:)?//', text)  # self-contained: no network to view it
    assert report.stat().st_mode & 0o777 == 0o600


def test_a_headless_browser_renders_the_sections_and_images(report: Path, tmp_path: Path) -> None:
    """Chromium loads the page with every image decoded (the page marks itself rendered), and its
    screenshot is a real picture of the page."""
    dom = _browser(report, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body[^>]*>", dom.stdout)
    assert body
    assert 'data-rendered="yes"' in body.group(0)
    count = re.search(r'data-images="(\d+)"', body.group(0))
    assert count
    assert int(count.group(1)) >= 5
    for section in SECTIONS:
        assert f'id="{section}"' in dom.stdout
    shot = tmp_path / "shot.png"
    taken = _browser(report, f"--screenshot={shot}", "--window-size=1200,3000")
    assert taken.returncode == 0, taken.stderr[-2000:]
    data = shot.read_bytes()
    assert data.startswith(PNG)
    assert len(data) > 50_000  # text and charts, not a blank page


def test_restatements_show_before_and_after(demo_root: Path, tmp_path: Path) -> None:
    """A period restated by a late file lists both versions of its bill with their totals and why."""
    out = tmp_path / "out"
    shutil.copytree(demo_root / "output", out)
    store = tmp_path / "store"
    shutil.copytree(demo_root / "store", store)
    import reconcile  # noqa: PLC0415
    from helpers.run_fixture import add_ingest, ev  # noqa: PLC0415

    add_ingest(
        store, [ev("vm.compute.start", "vm-late", "2026-11-20T01:00:00Z", cpu=8, mem=1 << 34)], "late.jsonl"
    )
    reconcile.run_period(store, "bundled", out, "2026-11-20", tenants=demo_root / "tenants.csv", quiet=True)
    dest = tmp_path / "day.html"
    write_report(out, period="2026-11-20", to=dest, store=store)
    section = dest.read_text(encoding="utf-8").split('<section id="restatements">')[1].split("</section>")[0]
    assert "late ingest" in section
    assert section.count("<tr>") >= 3  # the header and both versions


def test_refusals_name_what_is_wrong(demo_root: Path, tmp_path: Path) -> None:
    """A period with no run, a destination that is not .html or whose folder is missing: one error."""
    out = demo_root / "output"
    with pytest.raises(OutputError, match="holds no run of it"):
        write_report(out, period="2025-01", to=tmp_path / "r.html")
    with pytest.raises(UsageError, match=r"must end in \.html"):
        write_report(out, period="2026-11", to=tmp_path / "r.pdf")
    with pytest.raises(UsageError, match="does not exist"):
        write_report(out, period="2026-11", to=tmp_path / "no" / "r.html")


def test_anomaly_codes_keep_one_colour_everywhere() -> None:
    """Every anomaly code has its own fixed colour, distinct from the others and from the families'."""
    colours = list(plots.ANOMALY_COLOURS.values())
    assert len(set(colours)) == len(colours)
    assert {"orphan_stop", "double_stop", "double_start", "shape_mismatch", "stale_open"} <= set(
        plots.ANOMALY_COLOURS
    )
    assert plots.colour("orphan_stop") == plots.ANOMALY_COLOURS["orphan_stop"]
