"""Each run's ``reports/quality/dt=D/summary.json`` and the ``summary.html`` page a person opens first."""

from __future__ import annotations

import html
import json
import os
from datetime import UTC, date, datetime
from pathlib import Path

from bankmkt.quality.drift import quality_dir
from bankmkt.quality.results import GateResult
from bankmkt.runtime import write_atomically
from bankmkt.settings import Settings


def write_summary(run_date: date, results: list[GateResult], settings: Settings) -> Path:
    """Merge suite outcomes into ``reports/quality/dt=D/summary.json`` and rewrite ``summary.html``."""
    folder = quality_dir(settings, run_date)
    folder.mkdir(parents=True, exist_ok=True)
    json_path, html_path = folder / "summary.json", folder / "summary.html"
    summary = (
        json.loads(json_path.read_text()) if json_path.exists() else {"run_date": run_date.isoformat(), "suites": {}}
    )
    for result in results:
        result.summary = str(html_path)
        summary["suites"][result.suite] = result.as_dict()
    summary["updated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    summary["success"] = all(entry["success"] for entry in summary["suites"].values())
    text, page = json.dumps(summary, indent=2, default=str) + "\n", render_summary_html(summary, folder)
    write_atomically(json_path, lambda partial: partial.write_text(text, encoding="utf-8"))
    write_atomically(html_path, lambda partial: partial.write_text(page, encoding="utf-8"))
    return html_path


def _suite_page(entry: dict) -> str | None:
    """The suite's Data Docs page (each expectation's severity and comparison are in its note)."""
    if not entry.get("data_docs"):
        return None
    page = Path(entry["data_docs"]).parent / "expectations" / f"{entry['suite']}.html"
    return str(page) if page.exists() else None


def render_summary_html(summary: dict, folder: Path) -> str:
    """A short page: one row per suite with its status, counts, problems and Data Docs link."""

    def link(path: str | None, text: str) -> str:
        if not path:
            return ""
        return f'<a href="{html.escape(os.path.relpath(path, folder))}">{html.escape(text)}</a>'

    rows = []
    for name, entry in sorted(summary["suites"].items()):
        problems = "".join(f"<li class=failure>{html.escape(line)}</li>" for line in entry["failed"])
        problems += "".join(f"<li class=warning>{html.escape(line)}</li>" for line in entry["warnings"])
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td class={entry['status']}>{entry['status']}</td>"
            f"<td>{entry['rows']}</td><td>{entry['expectations']}</td>"
            f"<td>{len(entry['failed'])}</td><td>{len(entry['warnings'])}</td>"
            f"<td>{html.escape(entry.get('previous_run') or '')}</td>"
            f"<td>{link(entry.get('data_docs_page'), 'validation result')} "
            f"{link(_suite_page(entry), 'suite')}</td>"
            f"<td>{html.escape(entry.get('note') or '')}<ul>{problems}</ul></td></tr>"
        )
    verdict = "passed" if summary["success"] else "FAILED"
    index = next((e.get("data_docs") for e in summary["suites"].values() if e.get("data_docs")), None)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Quality gate {summary["run_date"]}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top}}.failed,.failure{{color:#b00}}
.warning{{color:#a60}}.passed{{color:#070}}.skipped{{color:#666}}</style></head>
<body><h1>Quality gate for {summary["run_date"]}: {verdict}</h1>
<p>Failure-level expectations stop the run; warnings are reported only. Comparisons use the previous
passed run's profile. {link(index, "All Data Docs")}</p>
<table><tr><th>suite</th><th>status</th><th>rows</th><th>expectations</th><th>failures</th><th>warnings</th>
<th>compared with</th><th>Data Docs</th><th>details</th></tr>
{"".join(rows)}
</table><p>Updated {summary["updated_at"]}.</p></body></html>
"""
