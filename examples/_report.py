"""The course in one page: ``runs/index.html`` (and ``runs/index.md``), built from the run directories.

``python -m examples all`` calls :func:`write_report` at the end; ``python -m examples report``
rebuilds the page from whatever is under ``runs/``. Nothing here knows a chapter: each section is
read from a run directory written by :class:`examples._runner.Run`:

- ``run.json``: the command, the headline metric's key, the data, the notes, the figures and their
  captions (written by ``Run.finish``);
- ``figures.json``: the figures and captions saved so far (a chapter that failed half-way);
- ``metrics.json`` and ``summary.md``: linked, and the metrics shown as tables;
- ``runs/all.json`` (written by ``all``): each chapter's status, time and, for a failure, the error.

The page is self-contained: inline CSS, a few lines of inline script, no network. Figures are the
PNG files next to it (relative links), so the page and its run directories move together.
"""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

CSS = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 1100px; margin: 0 auto; padding: 1em 2em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-top: 2px solid #ddd; padding-top: 0.8em; margin-top: 2em; }
nav ol { columns: 2; } code, pre { background: #f4f4f4; border-radius: 3px; }
code { padding: 0 0.3em; } pre { padding: 0.6em; overflow-x: auto; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 14px; }
td, th { border: 1px solid #ccc; padding: 0.15em 0.6em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #444; font-size: 14px; } .headline { font-size: 1.2em; font-weight: bold; }
.failed { background: #fff0f0; border-left: 4px solid #c00; padding: 0.5em 1em; }
.missing { color: #888; } .broken { color: #c00; font-weight: bold; }
"""

# Marks each figure with its natural size once the page has loaded, and flags a figure that did not
# load (the reader sees it; the browser test reads the marks).
SCRIPT = """
window.addEventListener('load', function () {
  document.querySelectorAll('img').forEach(function (img) {
    img.setAttribute('data-natural-width', img.naturalWidth);
    img.setAttribute('data-natural-height', img.naturalHeight);
    if (!img.complete || img.naturalWidth === 0) {
      var p = document.createElement('p'); p.className = 'broken';
      p.textContent = 'figure did not load: ' + img.getAttribute('src'); img.after(p);
    }
  });
  document.body.setAttribute('data-checked', 'yes');
});
"""


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 10_000 else str(v)
    return str(v)


def _is_matrix(v: Any) -> bool:
    return (isinstance(v, list) and 0 < len(v) <= 30 and all(isinstance(r, list) and len(r) == len(v[0]) for r in v)
            and 0 < len(v[0]) <= 30 and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                             for r in v for x in r))


def _metrics_html(metrics: dict[str, Any]) -> str:
    """Scalars in one table; small numeric matrices (confusion matrices) as their own tables; longer
    lists and nested values (curves, layer tables) are left to metrics.json, named in one line."""
    e = html.escape
    rows, matrices, elsewhere = [], [], []
    for k, v in sorted(metrics.items()):
        if _is_matrix(v):
            body = "".join("<tr>" + "".join(f'<td class="num">{e(_fmt(x))}</td>' for x in r) + "</tr>" for r in v)
            matrices.append(f"<p><b>{e(k)}</b></p><table>{body}</table>")
        elif isinstance(v, dict) and v and all(not isinstance(x, (list, dict)) for x in v.values()):
            inner = "".join(f"<tr><td>{e(str(a))}</td><td class='num'>{e(_fmt(b))}</td></tr>" for a, b in v.items())
            matrices.append(f"<p><b>{e(k)}</b></p><table>{inner}</table>")
        elif isinstance(v, (list, dict)):
            elsewhere.append(k)
        else:
            cls = ' class="num"' if isinstance(v, (int, float)) and not isinstance(v, bool) else ""
            rows.append(f"<tr><td>{e(k)}</td><td{cls}>{e(_fmt(v))}</td></tr>")
    out = "<table><tr><th>metric</th><th>value</th></tr>" + "".join(rows) + "</table>" if rows else ""
    out += "".join(matrices)
    if elsewhere:
        out += f"<p class='missing'>In metrics.json only: {e(', '.join(elsewhere))}.</p>"
    return out


def _section(root: Path, name: str, status: dict[str, Any]) -> tuple[str, str]:
    """The HTML section of one chapter, and its row of the overview table."""
    e = html.escape
    d = root / name
    run = _read_json(d / "run.json") or {}
    metrics = _read_json(d / "metrics.json") or {}
    figures = run.get("figures") or _read_json(d / "figures.json") or []
    figures = [f for f in figures if (d / f["file"]).is_file()]
    state = status.get("status") or ("ok" if run else "missing")
    seconds = status.get("seconds", run.get("wall_time_s"))
    head = run.get("headline", "test_accuracy")
    value = metrics.get(head)
    time_s = f"{seconds:.1f} s" if isinstance(seconds, (int, float)) else "-"
    parts = [f'<h2 id="{e(name)}">{e(name)}</h2>']
    if state == "failed":
        parts.append(f"<div class='failed'><p><b>This chapter failed</b> after {time_s}:</p>"
                     f"<pre>{e(status.get('error', ''))}</pre></div>")
    elif state == "missing":
        parts.append("<p class='missing'>No run directory yet: run <code>python -m examples "
                     f"{e(name)} --quick</code>.</p>")
    command = run.get("command") or status.get("command")
    if command:
        parts.append(f"<p>Command: <code>{e(command)}</code></p>")
    if metrics.get("data"):
        parts.append(f"<p>Data: {e(str(metrics['data']))}</p>")
    if value is not None:
        parts.append(f"<p class='headline'>{e(head)} = {e(_fmt(value))}</p>")
    parts.append(f"<p>Time: {time_s}</p>")
    if run.get("notes"):
        parts.append("<ul>" + "".join(f"<li>{e(str(n))}</li>" for n in run["notes"]) + "</ul>")
    for f in figures:
        cap = f.get("caption") or f["file"].rsplit(".", 1)[0].replace("_", " ")
        parts.append(f'<figure><img src="{e(name)}/{e(f["file"])}" alt="{e(cap)}" loading="eager">'
                     f"<figcaption>{e(cap)}</figcaption></figure>")
    if metrics:
        parts.append(f"<details><summary>Metrics ({len(metrics)}): click to show</summary>"
                     + _metrics_html(metrics) + "</details>")
    links = [f'<a href="{e(name)}/{f}">{f}</a>' for f in ("summary.md", "metrics.json") if (d / f).is_file()]
    if links:
        parts.append("<p>Files: " + ", ".join(links) + "</p>")
    shown = value is not None
    row = (f"<tr><td><a href='#{e(name)}'>{e(name)}</a></td><td>{e(state)}</td><td>{e(head) if shown else '-'}</td>"
           f"<td class='num'>{e(_fmt(value)) if shown else '-'}</td><td class='num'>{time_s}</td></tr>")
    return "\n".join(parts), row


def write_report(root: Path, chapters: list[str]) -> Path:
    """Write ``root/index.html`` and ``root/index.md`` for ``chapters`` (in the course's order) plus any
    other run directory found under ``root``; returns the HTML path."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    status: dict[str, Any] = (_read_json(root / "all.json") or {}).get("chapters", {})
    extra = sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "run.json").is_file()
                   and p.name not in chapters)
    names = [c for c in chapters if (root / c).is_dir() or c in status] + extra
    sections, rows = zip(*(_section(root, n, status.get(n, {})) for n in names)) if names else ((), ())
    total = sum(s.get("seconds", 0) for s in status.values())
    failed = [n for n, s in status.items() if s.get("status") == "failed"]
    page = ["<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
            "<meta name='viewport' content='width=device-width, initial-scale=1'>",
            "<title>minidl: the course, every chapter</title>", f"<style>{CSS}</style>", "</head><body>",
            "<h1>minidl: the course, every chapter</h1>",
            "<p>Made by <code>python -m examples all</code> (each chapter in <code>--quick</code> mode on embedded "
            "data unless said otherwise). Each section: the command, the data, the headline metric, the figures "
            "with what to look at, the metrics.</p>",
            (f"<p>Total time {total:.1f} s; {len(failed)} chapter(s) failed"
             + (f": {', '.join(failed)}" if failed else "") + ".</p>") if status else "",
            "<table><tr><th>chapter</th><th>status</th><th>headline</th><th>value</th><th>time</th></tr>",
            *rows, "</table>", *sections, f"<script>{SCRIPT}</script>", "</body></html>"]
    out = root / "index.html"
    tmp = out.with_name("index.html.tmp")
    tmp.write_text("\n".join(page) + "\n")
    tmp.replace(out)
    _write_markdown(root, names, status)
    return out


def _write_markdown(root: Path, names: list[str], status: dict[str, Any]) -> None:
    lines = ["# minidl: all chapters", "", "| chapter | status | data | headline | time (s) | report | figures |",
             "|---|---|---|---|---|---|---|"]
    for n in names:
        run = _read_json(root / n / "run.json") or {}
        metrics = _read_json(root / n / "metrics.json") or {}
        head = run.get("headline", "test_accuracy")
        value = metrics.get(head)
        st = status.get(n, {})
        secs = st.get("seconds", run.get("wall_time_s"))
        figs = " ".join(f"[{p.stem}]({n}/{p.name})" for p in sorted((root / n).glob("*.png")))
        cell = lambda s: " ".join(str(s).split()).replace("|", "\\|")  # noqa: E731
        files = ", ".join(f"[{f.split('.')[0]}]({n}/{f})" for f in ("summary.md", "metrics.json")
                          if (root / n / f).is_file())
        lines.append(f"| {n} | {st.get('status', 'ok' if run else 'missing')} | {cell(metrics.get('data', '-'))} | "
                     f"{head}={_fmt(value) if value is not None else '-'} | "
                     f"{secs if isinstance(secs, (int, float)) else '-'} | {files or '-'} | {figs} |")
    (root / "index.md").write_text("\n".join(lines) + "\n")


# --------------------------------------------------------------------------- checking the page in a browser
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    """A headless-capable Chromium on PATH (Debian: ``apt-get install chromium``), or None."""
    import shutil
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


def check_in_browser(page: Path, screenshot: Path | None = None) -> list[str] | None:
    """Render ``page`` in headless Chromium; return the problems found (a figure that did not load, a link
    to a missing file), or None when no browser is installed. Also saves a screenshot of the top."""
    import re
    import subprocess
    import tempfile
    exe = find_browser()
    if exe is None:
        return None
    page = Path(page).resolve()
    with tempfile.TemporaryDirectory(prefix="minidl-chromium-") as profile:
        flags = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                 "--window-size=1200,1500", "--virtual-time-budget=10000"]
        try:
            dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=90)
            if screenshot is not None:
                subprocess.run([*flags, f"--screenshot={Path(screenshot).resolve()}", page.as_uri()],
                               capture_output=True, timeout=90)
        except (OSError, subprocess.TimeoutExpired) as e:
            return [f"the browser did not render the page ({e})"]
    if 'data-checked="yes"' not in dom.stdout:
        return [f"the page's load script did not run (browser exit status {dom.returncode})"]
    problems = [f"figure did not load: {src}" for src, w in
                re.findall(r'<img[^>]*?src="([^"]+)"[^>]*?data-natural-width="(\d+)"', dom.stdout) if int(w) == 0]
    problems += [f"link to a missing file: {href}" for href in re.findall(r'<a href="([^"#][^"]*)"', dom.stdout)
                 if not (page.parent / html.unescape(href)).is_file()]
    return problems
