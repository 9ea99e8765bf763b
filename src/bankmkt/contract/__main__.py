"""Command line: ``python -m bankmkt.contract {check,restore,docs}``.

* ``check --date D``: enforce the contract on day D (exit 1 with the message on a
  violation; the day is quarantined). ``--dry-run`` checks without moving or
  recording anything.
* ``restore --date D``: copy back from the latest quarantine attempt the files that
  broke no rule (after the corrected file was re-delivered).
* ``docs``: regenerate docs/landing_contract.md from the schemas (``--check``
  exits 1 when the file is stale).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date

from bankmkt.settings import get_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bankmkt.contract", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="check (and enforce) the landing contract for one day")
    check.add_argument("--date", required=True, type=date.fromisoformat, help="logical date YYYY-MM-DD")
    check.add_argument("--dry-run", action="store_true", help="report only: no quarantine, no ledger")
    restore = commands.add_parser("restore", help="bring back a quarantined day's files that passed")
    restore.add_argument("--date", required=True, type=date.fromisoformat)
    docs = commands.add_parser("docs", help="write docs/landing_contract.md from the schemas")
    docs.add_argument("--check", action="store_true", help="exit 1 if the file differs")
    args = parser.parse_args(argv)
    settings = get_settings()

    if args.command == "check":
        from bankmkt.contract.check import check_landing_batch, enforce_landing_contract
        from bankmkt.contract.report import ContractViolation

        if args.dry_run:
            report = check_landing_batch(args.date, settings)
            print(report.message())
            return 0 if report.passed else 1
        try:
            report = enforce_landing_contract(args.date, settings)
        except ContractViolation as violation:
            print(violation, file=sys.stderr)
            return 1
        print(report.message())
        for source, rows in report.rows_per_source.items():
            print(f"  {source}: {rows} rows")
        return 0

    if args.command == "restore":
        from bankmkt.contract.quarantine import restore_quarantined

        restored = restore_quarantined(args.date, settings)
        for path in restored:
            print(f"restored {path}")
        if not restored:
            print(f"nothing to restore for {args.date}")
        return 0

    from bankmkt.contract.docs import docs_path, render_contract_markdown

    text = render_contract_markdown()
    path = docs_path(settings)
    if args.check:
        current = path.read_text(encoding="utf-8") if path.is_file() else ""
        if current != text:
            print(f"{path} is stale: run python -m bankmkt.contract docs", file=sys.stderr)
            return 1
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
