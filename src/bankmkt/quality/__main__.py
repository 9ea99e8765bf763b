"""Command line: ``python -m bankmkt.quality --date D [--suite NAME]`` (exit 1 with the gate's message on a failure)."""

from __future__ import annotations

import json

from bankmkt.quality.gate import gate_marts, gate_target_lists, raise_if_failed, run_gate
from bankmkt.quality.results import QualityGateFailed
from bankmkt.quality.suites import GATED_MARTS, TARGET_LISTS


def main(argv: list[str] | None = None) -> int:
    """`python -m bankmkt.quality --date D [--suite NAME]`: run the gate by hand."""
    import argparse

    from bankmkt.runtime import parse_run_date

    parser = argparse.ArgumentParser(prog="python -m bankmkt.quality", description=main.__doc__)
    parser.add_argument("--date", required=True)
    parser.add_argument("--suite", choices=[*GATED_MARTS, TARGET_LISTS, "marts"], default="marts")
    args = parser.parse_args(argv)
    day = parse_run_date(args.date)
    try:
        if args.suite == "marts":
            outcome = gate_marts(day).as_dict()
        elif args.suite == TARGET_LISTS:
            outcome = gate_target_lists(day).as_dict()
        else:
            result = run_gate(args.suite, day)
            raise_if_failed(day, [result])
            outcome = result.as_dict()
    except QualityGateFailed as failed:
        print(failed)
        return 1
    print(json.dumps(outcome, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
