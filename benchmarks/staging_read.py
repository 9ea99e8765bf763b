"""Reading the landed CSVs as staging does: the sources' read_csv options against the defaults they replace.

    .venv/bin/python benchmarks/staging_read.py [--data-dir DATA_DIR] [--repeat 3] [--threads 1]    # make bench-staging

Every staging view of dbt reads all landed days of its source through the source's
``external_location`` (dbt_project/models/staging/_staging__sources.yml), so a long history
pays this read in every build that touches the source. The benchmark counts the rows of every
source of DATA_DIR's landing three ways, side by side in one process:

* ``sniffed``: the options without the contract's dialect (DuckDB sniffs the delimiter, quote
  and escape of every file, and, with ``union_by_name``, every file's header and sample);
* ``declared``: the sources' options as committed (the contract's dialect declared: ',' and '"',
  one sample line, nothing left to sniff);
* ``no_union``: ``declared`` without ``union_by_name``, the floor (it cannot read landed files of
  an older contract, so it is shown, not used).

Prints seconds per source and variant (the best of ``--repeat``) with the rows counted (equal in
every variant, or the benchmark fails), then the totals and the load average.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import duckdb
import yaml

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "dbt_project" / "models" / "staging" / "_staging__sources.yml"
DIALECT = re.compile(r",\s*(delim|quote|escape|sample_size)\s*=\s*('[^']*'|\d+)")


def locations(data_dir: Path) -> dict[str, str]:
    """Each landing source's read_csv call, as dbt renders it for DATA_DIR."""
    spec = yaml.safe_load(SOURCES.read_text())
    found = {}
    for source in spec["sources"]:
        for table in source["tables"]:
            location = table.get("config", {}).get("meta", {}).get("external_location")
            if not location or "LANDING_DIR" not in location:
                continue
            found[table["name"]] = location.replace("{{ env_var('LANDING_DIR') }}", str(data_dir / "landing"))
    return found


def variants(location: str) -> dict[str, str]:
    sniffed = DIALECT.sub("", location)
    return {
        "sniffed": sniffed,
        "declared": location,
        "no_union": location.replace(", union_by_name=true", ""),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="a DATA_DIR with landed days (default: the settings' DATA_DIR)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="DuckDB threads (the daily run's dbt uses settings')")
    args = parser.parse_args(argv)
    if args.data_dir is None:
        sys.path.insert(0, str(ROOT / "src"))
        from bankmkt.settings import get_settings

        args.data_dir = get_settings().data_dir
    con = duckdb.connect()
    con.execute(f"SET threads = {args.threads}")
    days = len(list((args.data_dir / "landing" / "customers").glob("dt=*")))
    print(f"{args.data_dir}: {days} landed days; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'source':<24}{'rows':>12}{'sniffed s':>12}{'declared s':>12}{'no_union s':>12}")
    totals = {"sniffed": 0.0, "declared": 0.0, "no_union": 0.0}
    for source, location in sorted(locations(args.data_dir).items()):
        best, rows = {}, set()
        for name, call in variants(location).items():
            timings = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                rows.add(con.execute(f"SELECT count(*) FROM {call}").fetchall()[0][0])
                timings.append(time.perf_counter() - started)
            best[name] = min(timings)
            totals[name] += best[name]
        if len(rows) != 1:
            print(f"{source}: the variants counted different rows {sorted(rows)}", file=sys.stderr)
            return 1
        print(
            f"{source:<24}{rows.pop():>12,}{best['sniffed']:>12.2f}{best['declared']:>12.2f}{best['no_union']:>12.2f}"
        )
    print(f"{'total':<24}{'':>12}{totals['sniffed']:>12.2f}{totals['declared']:>12.2f}{totals['no_union']:>12.2f}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
