"""Benchmark: the daily run at scale, stage by stage: wall and CPU seconds, peak memory per process, rows.

A synthetic bank in a DATA_DIR of its own (a temporary folder, never the checkout's data/), then
the days through the real DAGs exactly as `make run DATE=D` runs them: `python -m bankmkt.cli run
--date D` (bank_daily by `airflow dags test`, its tasks in that one process, dbt in Cosmos' child
process; then bank_training the same way, in the same process: bankmkt.dagrun). The first day is the first load (the whole history
checked and built); then each incremental day. The Airflow metadata database is created once
before the first day (`python -m bankmkt.cli init`), as a new DATA_DIR's first `make run` does.

Per day it prints a table: for each stage its wall and CPU seconds as its record under runs/dt=D/
says (`started_at`, `seconds`, `cpu_seconds`: the task process and the children it waited for; the
DAG's dbt stage, whose record has no CPU, from the contract check's end to its record, the CPU
sampled) and the peak resident memory, sampled every --interval seconds, of the processes working
meanwhile, grouped by role (the Airflow process whose tasks run in it, dbt, others); the parts of the
day outside the stages (start-up before the first stage, between the two DAGs, exit after the last
stage, what lies between stages), whose CPU comes from the same sampling; the day's totals (CPU:
every process of the day, exactly, from the kernel's accounting of waited-for children); each
process's peak as the kernel keeps it (VmHWM, read with each sample); each dbt process's CPU and
peak; and the rows: the landing rows the contract check accepted, the warehouse's, the customers
published.

With --double-history a second bank with twice the history (same customers, seed, contact rate,
and the same calendar dates for the first load and the incremental days) runs next, and the ratios
of its incremental days' wall, CPU and peak memory to the first bank's are printed.

    python benchmarks/daily.py --customers 20000 --history-days 90 --incremental-days 3 --double-history
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from bankmkt.cli import STAGES

# The stages in the order `cli summary` lists them: bank_daily's, then bank_training's.
TRAINING_STAGES = ("decide_retraining", "train_models")
DAILY_STAGES = tuple(stage for stage in STAGES if stage not in TRAINING_STAGES)
ROLES = ("airflow", "dbt", "other")
PROCESS_KINDS = ("bank_daily", "dbt", "bank_training", "other")


def _role(command: list[str]) -> str:
    """What a process of the run is, from its command line."""
    text = " ".join(command)
    if ("airflow" in text and " dags test " in f" {text} ") or "bankmkt.dagrun" in text:
        return "airflow"
    if any(Path(part).name in ("dbt", "bankmkt-dbt") for part in command[:2]):
        return "dbt"
    if "bankmkt.cli" in text:
        return "cli"
    return "other"


def _high_water_mb(pid: int) -> float | None:
    """A process's peak resident memory since it started its program (VmHWM), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return None


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Sample:
    at: float  # epoch seconds, comparable with the stage records' file times
    cpu: float  # CPU seconds of the whole process tree so far
    rss_mb: dict[str, float]  # largest resident set of one process, per role


class TreeSampler(threading.Thread):
    """Every ``interval`` seconds: the process tree under ``root`` (the day's `bankmkt.cli run`), its
    CPU seconds so far and the largest resident memory of one process per role.

    The tree's CPU is the sum over its live processes of their own and their waited-for children's
    CPU: a process that ended moves its time into its parent's, so nothing is counted twice.
    """

    def __init__(self, root: int, interval: float) -> None:
        super().__init__(daemon=True)
        import psutil

        self.root = psutil.Process(root)
        self.interval = interval
        self.samples: list[Sample] = []
        self.commands: dict[int, tuple[str, str]] = {}  # pid -> (role, command line), what ran
        self.high_water_mb: dict[int, float] = {}  # pid -> its kernel peak (VmHWM) when last seen
        self.cpu_seen: dict[int, float] = {}  # pid -> its CPU seconds (and its children's) when last seen
        self.lifetime: dict[int, tuple[float, float]] = {}  # pid -> first and last time seen
        self._done = threading.Event()

    def run(self) -> None:
        import psutil

        while not self._done.is_set():
            at, cpu, rss = time.time(), 0.0, dict.fromkeys(ROLES, 0.0)
            try:
                processes = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            for process in processes:
                try:
                    with process.oneshot():
                        if process.pid not in self.commands:
                            command = process.cmdline()
                            self.commands[process.pid] = (_role(command), " ".join(command)[:160])
                        times = process.cpu_times()
                        memory = process.memory_info().rss / 2**20
                except psutil.Error:  # ended between the listing and the reading
                    continue
                own = times.user + times.system + times.children_user + times.children_system
                cpu += own
                self.cpu_seen[process.pid] = max(self.cpu_seen.get(process.pid, 0.0), own)
                self.lifetime[process.pid] = (self.lifetime.get(process.pid, (at, at))[0], at)
                # a process that has just ended (a zombie) has no memory left to read: keep what was seen
                peak = _high_water_mb(process.pid) or memory
                self.high_water_mb[process.pid] = max(self.high_water_mb.get(process.pid, 0.0), peak)
                role = self.commands[process.pid][0]
                if role in rss:  # the cli process waits for Airflow, its memory is not the day's work
                    rss[role] = max(rss[role], memory)
            self.samples.append(Sample(at, cpu, rss))
            self._done.wait(self.interval)

    def stop(self) -> None:
        self._done.set()
        self.join()

    def cpu_at(self, moment: float) -> float:
        """The tree's CPU seconds at ``moment``, interpolated between the samples around it."""
        before = [s for s in self.samples if s.at <= moment]
        after = [s for s in self.samples if s.at >= moment]
        if not before:
            return after[0].cpu if after else 0.0
        if not after:
            return before[-1].cpu
        low, high = before[-1], after[0]
        if high.at == low.at:
            return low.cpu
        return low.cpu + (high.cpu - low.cpu) * (moment - low.at) / (high.at - low.at)

    def process_peaks(self) -> dict[str, float]:
        """The kernel's peak (VmHWM) of each kind of process: the Airflow process of each DAG, the
        largest dbt process, the largest other one. Exact but for what a process used after its last
        sample (within ``interval`` of its end)."""
        peaks: dict[str, float] = {}
        for pid, peak in self.high_water_mb.items():
            role, command = self.commands[pid]
            if role == "airflow":
                name = next((dag for dag in ("bank_daily", "bank_training") if dag in command), "airflow")
            elif role == "cli":
                continue
            else:
                name = role
            peaks[name] = max(peaks.get(name, 0.0), peak)
        return peaks

    def processes(self, role: str) -> list[dict]:
        """Each process of ``role`` as sampled: first and last seen, CPU seconds and kernel peak then."""
        return [
            {"first_seen": first, "last_seen": last, "cpu": self.cpu_seen[pid], "peak_mb": self.high_water_mb[pid]}
            for pid, (first, last) in sorted(self.lifetime.items(), key=lambda item: item[1])
            if self.commands[pid][0] == role
        ]

    def peaks(self, start: float, end: float) -> dict[str, float]:
        """The largest sampled resident memory of one process per role between ``start`` and ``end``."""
        inside = [s for s in self.samples if start <= s.at <= end]
        return {role: max((s.rss_mb[role] for s in inside), default=0.0) for role in ROLES}


@dataclass
class Part:
    name: str
    wall: float
    cpu: float | None
    peaks: dict[str, float]
    measured_cpu: bool = True  # False: the CPU comes from the sampling, not the stage's own record
    start: float | None = None  # epoch seconds; None for the hand-overs, spread over the day


@dataclass
class Day:
    bank: str
    day: date
    kind: str
    wall: float
    cpu: float
    parts: list[Part] = field(default_factory=list)
    records: dict[str, dict] = field(default_factory=dict)
    peaks: dict[str, float] = field(default_factory=dict)  # sampled, over the whole day
    kernel_peaks: dict[str, float] = field(default_factory=dict)  # per kind of process, the kernel's peaks
    others: list[str] = field(default_factory=list)  # command lines of the processes of role "other"
    dbt: list[dict] = field(default_factory=list)  # each dbt process: the part it ran in, CPU, peak

    def part(self, name: str) -> Part | None:
        return next((p for p in self.parts if p.name == name), None)

    @property
    def fixed_wall(self) -> float:
        return sum(p.wall for p in self.parts if p.name in FIXED)

    @property
    def fixed_cpu(self) -> float:
        return sum(p.cpu or 0.0 for p in self.parts if p.name in FIXED)

    def peak_mb(self, kinds: tuple[str, ...] = PROCESS_KINDS) -> float:
        """The largest kernel peak among these kinds of process."""
        return max((self.kernel_peaks.get(kind, 0.0) for kind in kinds), default=0.0)

    def rows(self) -> dict[str, int | None]:
        landing = self.records.get("check_landing", {}).get("result", {})
        warehouse = self.records.get("build_warehouse", {}).get("result", {}).get("rows", {})
        publish = self.records.get("publish_features", {}).get("result", {})
        materialize = publish.get("materialize") or {}
        score = self.records.get("score_and_target", {}).get("result", {})
        return {
            "landing_rows": landing.get("rows"),
            "landing_days": landing.get("days_checked"),
            "warehouse_rows": sum(v for k, v in warehouse.items() if k != "customer_features_on_run_date") or None,
            "fct_transactions": warehouse.get("fct_transactions"),
            "customer_features": warehouse.get("customer_features"),
            "customers_published": materialize.get("customers", (publish.get("export") or {}).get("rows_written")),
            "customers_scored": score.get("scored_customers"),
        }


START_UP = "start-up: `cli run`, Airflow CLI, DAG parse, first task (before check_landing)"
BETWEEN_DAGS = "bank_daily's end, bank_training's start (one Airflow process, bankmkt.dagrun)"
EXIT = "bank_training exit, `cli run` summary and exit"
HANDOVERS = "between stages: Airflow's hand-overs, the stages' work outside their timed blocks"
FIXED = (START_UP, BETWEEN_DAGS, EXIT)
STAGE_NAMES = {"build_warehouse": "build_warehouse (Cosmos: dbt build, 70 report tasks)"}


def _records(data_dir: Path, day: date) -> dict[str, dict]:
    """The stage records of D, each with ``ended``: its file's time (records keep whole seconds)."""
    folder = data_dir / "runs" / f"dt={day.isoformat()}"
    records = {}
    for stage in (*DAILY_STAGES, *TRAINING_STAGES):
        path = folder / f"{stage}.json"
        if path.exists():
            records[stage] = {**json.loads(path.read_text()), "ended": path.stat().st_mtime}
    return records


def _parts(records: dict[str, dict], sampler: TreeSampler, started: float, ended: float) -> list[Part]:
    """The day cut into its stages and what lies between them, in order."""
    parts, handovers, previous_end = [], [], started

    def add(name: str, start: float, end: float, cpu: float | None = None) -> None:
        measured = cpu is not None
        cpu = cpu if measured else sampler.cpu_at(end) - sampler.cpu_at(start)
        parts.append(Part(name, end - start, cpu, sampler.peaks(start, end), measured, start))

    for dag_stages, before in ((DAILY_STAGES, START_UP), (TRAINING_STAGES, BETWEEN_DAGS)):
        first = True
        for stage in dag_stages:
            record = records.get(stage)
            if record is None:
                continue
            if "started_at" in record:  # the stage's timed block
                start = datetime.fromisoformat(record["started_at"]).timestamp()
                end = start + record["seconds"]
            elif stage == "build_warehouse":  # the DAG's dbt stage: the Cosmos tasks after build_history
                start, end = previous_end, record["ended"]
            else:  # a record without its start: it was written as the block ended
                start, end = record["ended"] - record["seconds"], record["ended"]
            if first:
                add(before, previous_end, start)
                first = False
            elif start > previous_end:
                handovers.append((previous_end, start))
            add(STAGE_NAMES.get(stage, stage), start, end, record.get("cpu_seconds"))
            previous_end = end
    add(EXIT, previous_end, ended)
    wall = sum(end - start for start, end in handovers)
    cpu = sum(sampler.cpu_at(end) - sampler.cpu_at(start) for start, end in handovers)
    peaks = {role: max((sampler.peaks(s, e)[role] for s, e in handovers), default=0.0) for role in ROLES}
    parts.insert(len(parts) - 1, Part(HANDOVERS, wall, cpu, peaks, False))
    return parts


def run_day(bank: str, data_dir: Path, day: date, kind: str, interval: float, log_dir: Path) -> Day:
    """`python -m bankmkt.cli run --date D` on ``data_dir``, its process tree sampled."""
    from bankmkt.settings import PROJECT_ROOT

    env = {**os.environ, "DATA_DIR": str(data_dir), "PLATFORM_ENV": "local"}
    log = log_dir / f"{bank}-{day.isoformat()}.log"
    cpu_before, started = _children_cpu(), time.time()
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bankmkt.cli", "run", "--date", day.isoformat()],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        sampler = TreeSampler(process.pid, interval)
        sampler.start()
        code = process.wait()
    ended, cpu = time.time(), _children_cpu() - cpu_before
    sampler.stop()
    if code != 0:
        print(log.read_text(errors="replace")[-4000:], file=sys.stderr)
        raise SystemExit(f"[{bank}] `cli run --date {day}` failed with exit code {code}; log: {log}")
    sampler.samples.append(Sample(ended, cpu, dict.fromkeys(ROLES, 0.0)))  # the exact total at the end
    records = _records(data_dir, day)
    result = Day(bank, day, kind, ended - started, cpu, _parts(records, sampler, started, ended), records)
    result.peaks = sampler.peaks(started, ended)
    result.kernel_peaks = sampler.process_peaks()
    # The Airflow processes' own last word (the stage records' ru_maxrss): nothing after a last sample lost.
    for dag, stages in (("bank_daily", DAILY_STAGES), ("bank_training", TRAINING_STAGES)):
        recorded = [records[s]["peak_rss_mb"] for s in stages if "peak_rss_mb" in records.get(s, {})]
        result.kernel_peaks[dag] = max([result.kernel_peaks.get(dag, 0.0), *recorded])
    result.others = sorted({command for role, command in sampler.commands.values() if role == "other"})
    for process in sampler.processes("dbt"):
        # its CPU as last sampled: all but what it used in its last moments (under one interval)
        def overlap(part: Part, process: dict = process) -> float:
            first, last = process["first_seen"], max(process["last_seen"], process["first_seen"] + interval)
            return min(last, part.start + part.wall) - max(first, part.start)

        timed_parts = [part for part in result.parts if part.start is not None]
        result.dbt.append({**process, "part": max(timed_parts, key=overlap).name})
    return result


def _mb(value: float) -> str:
    return f"{value:,.0f}" if value else ""


def _count(value) -> str:
    return f"{value:,}" if isinstance(value, int) else "-"


def day_table(day: Day) -> str:
    lines = [
        f"\n{day.bank}: {day.day} ({day.kind})",
        "| part of the day | wall s | CPU s | peak RSS MB: Airflow process | dbt | other |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for part in day.parts:
        cpu = "" if part.cpu is None else f"{part.cpu:.1f}" + ("" if part.measured_cpu else "*")
        peaks = " | ".join(_mb(part.peaks[role]) for role in ROLES)
        lines.append(f"| {part.name} | {part.wall:.1f} | {cpu} | {peaks} |")
    stages = sum(p.wall for p in day.parts if p.name not in (*FIXED, HANDOVERS))
    lines.append(
        f"| **the day** (stages {stages:.1f} s, fixed {day.fixed_wall:.1f} s wall / {day.fixed_cpu:.1f} s CPU) "
        f"| **{day.wall:.1f}** | **{day.cpu:.1f}** | {_mb(day.peak_mb(('bank_daily', 'bank_training')))} "
        f"| {_mb(day.peak_mb(('dbt',)))} | {_mb(day.peak_mb(('other',)))} |"
    )
    rows = day.rows()
    lines.append(
        "\\* CPU from the sampling of the process tree (the stage's own record has none); peaks of a part: "
        "the largest resident memory sampled meanwhile; peaks of the day: the kernel's high-water marks\n"
        f"rows: landing {_count(rows['landing_rows'])} accepted ({_count(rows['landing_days'])} day(s)); "
        f"warehouse {_count(rows['warehouse_rows'])} (customer_features {_count(rows['customer_features'])}, "
        f"fct_transactions {_count(rows['fct_transactions'])}); customers published "
        f"{_count(rows['customers_published'])}, scored {_count(rows['customers_scored'])}\n"
        "peak RSS per process, the kernel's high-water mark (MB): "
        + ", ".join(f"{name} {_mb(day.kernel_peaks[name])}" for name in PROCESS_KINDS if name in day.kernel_peaks)
    )
    if day.dbt:
        lines.append(
            "dbt processes (CPU as last sampled): "
            + "; ".join(
                f"in {d['part'].split(' ')[0]}: {d['last_seen'] - d['first_seen']:.1f} s alive, {d['cpu']:.1f} s CPU, "
                f"{_mb(d['peak_mb'])} MB peak"
                for d in day.dbt
            )
        )
    if day.others:
        lines.append("other processes: " + "; ".join(day.others))
    return "\n".join(lines)


def summary_table(days: list[Day]) -> str:
    lines = [
        "| bank | day | wall s | CPU s | fixed wall / CPU s | peak MB: bank_daily, dbt, bank_training "
        "| landing rows | warehouse rows | customers published |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for day in days:
        rows, peaks = day.rows(), day.kernel_peaks
        lines.append(
            f"| {day.bank} | {day.day} ({day.kind}) | {day.wall:.1f} | {day.cpu:.1f} "
            f"| {day.fixed_wall:.1f} / {day.fixed_cpu:.1f} "
            f"| {', '.join(_mb(peaks.get(name, 0.0)) or '-' for name in PROCESS_KINDS[:3])} "
            f"| {_count(rows['landing_rows'])} | {_count(rows['warehouse_rows'])} "
            f"| {_count(rows['customers_published'])} |"
        )
    return "\n".join(lines)


def ratio_table(short: list[Day], long: list[Day]) -> str:
    """Twice the history against the first bank, incremental day by incremental day, and per part."""
    pairs = [(a, b) for a in short if a.kind == "incremental" for b in long if b.day == a.day]
    if not pairs:
        return "(no incremental day in both banks)"
    measures = {
        "wall s": lambda d: d.wall,
        "CPU s": lambda d: d.cpu,
        "peak MB, Airflow": lambda d: d.peak_mb(("bank_daily", "bank_training")),
        "peak MB, dbt": lambda d: d.peak_mb(("dbt",)),
    }
    lines = [
        "| incremental day | " + " | ".join(f"{name}: short, long, ratio" for name in measures) + " |",
        "|---|" + "---|" * len(measures),
    ]
    rows = [(str(a.day), [(m(a), m(b)) for m in measures.values()]) for a, b in pairs]
    means = [tuple(sum(v[i][j] for _, v in rows) / len(rows) for j in (0, 1)) for i in range(len(measures))]
    for label, values in [*rows, (f"mean of {len(rows)}", means)]:
        cells = [
            f"{a:,.{digits}f}, {b:,.{digits}f}, **{b / a:.2f}x**" if a else "-"
            for (a, b), digits in zip(values, (1, 1, 0, 0), strict=True)
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| part of an incremental day (mean) | CPU s: short, long, ratio | wall s: short, long |",
        "|---|---|---|",
    ]
    for name in [p.name for p in pairs[0][0].parts]:
        found = [(a.part(name), b.part(name)) for a, b in pairs if a.part(name) and b.part(name)]
        if not found:
            continue
        ca, cb = (sum(parts[i].cpu or 0.0 for parts in found) / len(found) for i in (0, 1))
        wa, wb = (sum(parts[i].wall for parts in found) / len(found) for i in (0, 1))
        ratio = f"{cb / ca:.2f}x" if ca >= 0.5 else "-"
        lines.append(f"| {name} | {ca:.1f}, {cb:.1f}, {ratio} | {wa:.1f}, {wb:.1f} |")
    return "\n".join(lines)


def run_bank(label: str, history: int, start: date, args, root: Path) -> list[Day]:
    from bankmkt.generator import generate_bank

    data_dir = root / label
    first_load = start + timedelta(days=history - 1)
    total = history + args.incremental_days
    print(
        f"[{label}] generating {args.customers:,} customers x {total} days ({start}..{start + timedelta(days=total - 1)}) "
        f"into {data_dir}",
        flush=True,
    )
    began = time.perf_counter()
    summary = generate_bank(
        customers=args.customers,
        days=total,
        start_date=start,
        seed=args.seed,
        data_dir=data_dir,
        contact_rate=args.contact_rate,
        progress=lambda _line: None,
    )
    print(
        f"[{label}] generated {sum(summary['rows'].values()):,} landing rows in {time.perf_counter() - began:.0f} s",
        flush=True,
    )
    env = {**os.environ, "DATA_DIR": str(data_dir), "PLATFORM_ENV": "local"}
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bankmkt.cli", "init"], env=env, check=True, stdout=subprocess.DEVNULL)
    print(f"[{label}] `cli init` (Airflow metadata database) in {time.perf_counter() - began:.1f} s", flush=True)
    log_dir = root / "logs"
    log_dir.mkdir(exist_ok=True)
    days = []
    for number in range(args.incremental_days + 1):
        day = first_load + timedelta(days=number)
        kind = "first load" if number == 0 else "incremental"
        print(f"[{label}] `cli run --date {day}` ({kind})", flush=True)
        days.append(run_day(label, data_dir, day, kind, args.interval, log_dir))
        print(day_table(days[-1]), flush=True)
    if not args.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return days


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--history-days", type=int, default=90, help="days of history up to the first load")
    parser.add_argument("--incremental-days", type=int, default=3, help="daily runs after the first load")
    parser.add_argument(
        "--double-history", action="store_true", help="also a bank with twice the history, same days after it"
    )
    parser.add_argument("--start-date", default="2024-01-01", help="first day of the (first) bank's history")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--contact-rate", type=float, default=0.01, help="the generator's default")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between samples of the process tree")
    parser.add_argument("--keep", action="store_true", help="keep the DATA_DIRs (and the day logs)")
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench-daily-"))
    load_before = os.getloadavg()
    print(
        f"cores {os.cpu_count()}; load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; "
        f"DATA_DIRs under {root}",
        flush=True,
    )
    start = date.fromisoformat(args.start_date)
    banks = [(f"{args.history_days} d history", args.history_days, start)]
    if args.double_history:  # the same first-load and incremental dates: the history starts earlier
        banks.append(
            (f"{2 * args.history_days} d history", 2 * args.history_days, start - timedelta(days=args.history_days))
        )
    results: dict[str, list[Day]] = {}
    failed = False
    try:
        for label, history, first in banks:
            results[label] = run_bank(label.replace(" ", "-"), history, first, args, root)
    except BaseException:
        failed = True
        raise
    finally:
        if failed or args.keep:
            print(f"DATA_DIRs and logs kept in {root}", flush=True)
        else:
            shutil.rmtree(root, ignore_errors=True)
    load_after = os.getloadavg()
    days = [day for label in results for day in results[label]]
    print(
        f"\n{args.customers:,} customers, {args.incremental_days} incremental day(s); {os.cpu_count()} cores; "
        f"load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
        f"after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}\n"
        f"fixed = {', '.join(FIXED)}\n"
    )
    print(summary_table(days))
    if args.double_history:
        short, long = results.values()
        print(f"\nTwice the history ({banks[1][1]} against {banks[0][1]} days):\n")
        print(ratio_table(short, long))
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "arguments": vars(args),
                    "cores": os.cpu_count(),
                    "load_before": load_before,
                    "load_after": load_after,
                    "days": [
                        {
                            "bank": d.bank,
                            "day": d.day.isoformat(),
                            "kind": d.kind,
                            "wall": d.wall,
                            "cpu": d.cpu,
                            "parts": [vars(p) for p in d.parts],
                            "peaks": d.peaks,
                            "kernel_peaks": d.kernel_peaks,
                            "others": d.others,
                            "dbt": d.dbt,
                            "rows": d.rows(),
                        }
                        for d in days
                    ],
                },
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
