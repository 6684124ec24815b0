"""The course report ``runs/index.html``: built by ``python -m examples all`` from the run directories,
then rendered in a real (headless) browser: every figure loads, every link points to a file."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from html.parser import HTMLParser
from pathlib import Path

import pytest

from examples import __main__ as cli
from examples._report import check_in_browser, find_browser, write_report


class _Page(HTMLParser):
    """The page's images (src and the natural size the page's script recorded), links, ids, headings."""

    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[dict[str, str | None]] = []
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.h2: list[str] = []
        self.body: dict[str, str | None] = {}
        self._in_h2 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if "id" in a:
            self.ids.add(str(a["id"]))
        if tag == "img":
            self.imgs.append(a)
        elif tag == "a" and a.get("href"):
            self.links.append(str(a["href"]))
        elif tag == "body":
            self.body = a
        self._in_h2 = tag == "h2"

    def handle_data(self, data: str) -> None:
        if self._in_h2:
            self.h2.append(data.strip())
            self._in_h2 = False


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m examples all`` restricted to the cnn chapter plus a chapter that raises half-way
    (after saving one figure), run in a fresh folder; returns its runs/ folder."""
    root = tmp_path_factory.mktemp("course")
    boom = types.ModuleType("boom_chapter")

    def boom_main(argv: list[str]) -> None:
        import matplotlib.pyplot as plt

        from examples._runner import Run, make_parser
        run = Run("boom", make_parser("boom", "fails").parse_known_args(argv)[0])
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.plot([0, 1], [1, 0])
        run.savefig(fig, "before_the_crash", caption="saved before the chapter raised")
        raise RuntimeError("deliberate failure in the middle of a chapter")

    boom.main = boom_main  # type: ignore[attr-defined]
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    mp.setitem(sys.modules, "boom_chapter", boom)
    mp.setattr(cli, "CHAPTERS", {"cnn": "examples.cnn", "boom": "boom_chapter", "gan": "examples.gan"})
    mp.setattr(cli, "_available", lambda: {"cnn": "examples.cnn", "boom": "boom_chapter"})
    mp.setenv("MINIDL_DATA", "")
    mp.setattr("examples._report.check_in_browser", lambda page, shot=None: None)  # the browser test renders it
    try:
        status = cli.run_all(["--epochs", "2"])
    finally:
        mp.undo()
    assert status == 1  # a failed chapter makes `all` fail, after the others ran and the page was written
    return root / "runs"


def test_page_has_every_chapter_in_order_with_figures_metrics_and_the_failure(course: Path) -> None:
    text = (course / "index.html").read_text()
    page = _parse(text)
    assert page.h2 == ["cnn", "boom"]  # the course's order; gan (no run directory) is left out
    assert "http://" not in text and "https://" not in text  # self-contained: nothing from the network
    srcs = [i["src"] for i in page.imgs]
    assert srcs == ["cnn/curves.png", "cnn/confusion.png", "cnn/filters.png", "boom/before_the_crash.png"]
    assert all((course / s).stat().st_size > 0 for s in srcs)
    assert "deliberate failure in the middle of a chapter" in text and "This chapter failed" in text
    assert "saved before the chapter raised" in text and "overfitting" in text  # captions
    m = json.loads((course / "cnn" / "metrics.json").read_text())
    assert f"{m['test_accuracy']:.4g}" in text  # the headline metric
    assert "python -m examples cnn --quick --out runs/cnn --epochs 2" in text  # the command
    status = json.loads((course / "all.json").read_text())["chapters"]
    assert status["cnn"]["status"] == "ok" and status["boom"]["status"] == "failed"
    assert "boom" in (course / "index.md").read_text()


def test_summary_md_stays_valid_markdown(course: Path) -> None:
    """Each table row is one line with two cells; the confusion matrix is a fenced block."""
    md = (course / "cnn" / "summary.md").read_text()
    rows = [ln for ln in md.splitlines() if ln.startswith("|")]
    assert rows and all(ln.count("|") - ln.count("\\|") == 3 for ln in rows), rows
    assert "confusion_matrix" not in "".join(rows)
    fence = md.split("confusion_matrix:")[1].split("```")[1].strip().splitlines()
    assert len(fence) == 10 and sum(int(x) for r in fence for x in r.split()) == json.loads(
        (course / "cnn" / "metrics.json").read_text())["test_size"]


def test_report_rebuilds_without_all_json_and_with_a_missing_chapter(tmp_path: Path) -> None:
    (tmp_path / "gan").mkdir()  # an empty run directory: a chapter that never finished
    out = write_report(tmp_path, ["cnn", "gan"])
    page = _parse(out.read_text())
    assert page.h2 == ["gan"] and "No run directory yet" in out.read_text()


@pytest.mark.skipif(find_browser() is None, reason="no Chromium/Chrome installed (apt-get install chromium; "
                    ".ci/run installs it, so CI runs this test)")
def test_page_renders_in_headless_chromium(course: Path, tmp_path: Path) -> None:
    """Headless Chromium loads the page from disk. The page's own script records each image's natural
    size once loaded; --dump-dom returns the DOM after that, and the test reads the marks."""
    flags = [find_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--allow-file-access-from-files",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,2000", "--virtual-time-budget=10000"]
    url = (course / "index.html").resolve().as_uri()
    shot = course / "index_screenshot.png"
    env = dict(os.environ, HOME=str(tmp_path))
    dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=60, env=env)
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = _parse(dom.stdout)
    assert page.body.get("data-checked") == "yes", "the page's load script did not run"
    assert len(page.imgs) == 4
    for img in page.imgs:
        assert int(img.get("data-natural-width") or 0) > 0 and int(img.get("data-natural-height") or 0) > 0, img
    assert 'class="broken"' not in dom.stdout  # the page's own notice for a figure that failed
    for href in page.links:
        if href.startswith("#"):
            assert href[1:] in page.ids, href
        else:
            assert not href.startswith(("http:", "https:", "//")), href
            assert (course / href).is_file(), f"link to a missing file: {href}"
    # the check `python -m examples all` runs at its end agrees, and takes the screenshot
    assert check_in_browser(course / "index.html", shot) == []
    assert shot.stat().st_size > 10_000  # a rendered page, not a blank one
    (course / "cnn" / "curves.png").rename(course / "curves.png")  # a figure gone: the check must see it
    try:
        assert check_in_browser(course / "index.html") == ["figure did not load: cnn/curves.png"]
    finally:
        (course / "curves.png").rename(course / "cnn" / "curves.png")
