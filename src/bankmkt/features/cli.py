"""The command line of the feature publication (``python -m bankmkt.features``)."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from bankmkt.features.common import FeaturePublicationError
from bankmkt.features.publish import backfill, materialize_day


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bankmkt.features", description="Publish customer features to the online store."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("materialize", help="publish one feature date to the online store")
    one.add_argument("--date", required=True, type=date.fromisoformat)
    many = commands.add_parser("backfill", help="publish every feature date of a range, oldest first")
    many.add_argument("--from", dest="first", required=True, type=date.fromisoformat)
    many.add_argument("--to", dest="last", required=True, type=date.fromisoformat)
    for command in (one, many):
        command.add_argument("--plain", action="store_true", help="use Feast's store.materialize")
    args = parser.parse_args(argv)
    method = "plain" if args.plain else None
    try:
        if args.command == "materialize":
            result = materialize_day(args.date, method=method)
            print(", ".join(f"{k}={v}" for k, v in result.items()))
        else:
            backfill(args.first, args.last, method=method)
    except (FeaturePublicationError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
