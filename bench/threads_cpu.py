"""The CPU time each Python and PostgreSQL process spent while a command ran, thread by
thread: where the cores went besides the work (an event loop's wake-ups, a scheduler in the
calling process, the WAL writer, autovacuum).

    python bench/threads_cpu.py -- python bench/city.py --sizes 400 --engines dask_2

The processes are sampled once a second (psutil), so one that lived less than a second may be
missed; the figures are each thread's user + system seconds at its last sample.
"""

from __future__ import annotations

import argparse
import subprocess
import time

import psutil


def sample(last: dict[tuple[int, int], tuple[str, float]]) -> None:
    for p in psutil.process_iter(["pid", "name", "cmdline"]):
        try:
            name = p.info["name"] or ""
            if "python" not in name and "postgres" not in name:
                continue
            cmd = " ".join(p.info["cmdline"] or [])[:60] or name
            for t in p.threads():
                last[(p.pid, t.id)] = (cmd, t.user_time + t.system_time)
        except psutil.Error:
            pass


def report(last: dict[tuple[int, int], tuple[str, float]], top: int) -> None:
    procs: dict[tuple[int, str], list[float]] = {}
    for (pid, _tid), (cmd, cpu) in last.items():
        procs.setdefault((pid, cmd), []).append(cpu)
    rows = sorted(((sum(v), k, sorted(v, reverse=True)) for k, v in procs.items()), reverse=True)
    print(f"{'CPU s':>8}  {'pid':<7} command (threads' seconds, largest first)")
    for total, (pid, cmd), threads in rows[:top]:
        print(f"{total:8.1f}  {pid:<7} {cmd}")
        if len(threads) > 1:
            print(" " * 18 + ", ".join(f"{c:.1f}" for c in threads[:4]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        ap.error("给出要运行的命令 / give the command to run, after --")
    last: dict[tuple[int, int], tuple[str, float]] = {}
    proc = subprocess.Popen(command)
    while proc.poll() is None:
        sample(last)
        time.sleep(1)
    sample(last)
    report(last, args.top)
    raise SystemExit(proc.returncode)


if __name__ == "__main__":
    main()
