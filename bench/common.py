"""What every benchmark prints first: the machine it ran on."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path


def machine() -> dict:
    """CPU model, cores, memory, Python and platform."""
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(mem, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def reference_seconds(repeat: int = 3) -> float:
    """The best of ``repeat`` timings of a fixed workload like the partitioner's (GEOS
    unions and intersections of a few thousand polygons, a numpy sort): how fast this machine
    is right now. A shared virtual machine's speed drifts (measured: the same 400 communities
    on 2 processes in 25–27 s, then 32–40 s half an hour later, nothing else running): runs
    are comparable at about the same reference only."""
    import time

    import numpy as np
    import shapely

    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 1000, (3000, 2))
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        disks = shapely.buffer(shapely.points(xy), 12.0, quad_segs=8)
        shapely.union_all(disks)
        shapely.intersection(disks[:-1], disks[1:])
        np.sort(rng.uniform(size=2_000_000))
        best = min(best, time.perf_counter() - t0)
    return round(best, 3)


def fixture_database() -> str:
    """The project's own PostGIS with the sample community loaded and partitioned (as
    `make demo` leaves it); returns its URL. Only the sample community is partitioned here:
    another community in the database, however bad its data, does not stop the set-up."""

    from geo.io.fixture import fixture_loaded, load_fixture, partition_fixture
    from geo.store.db import get_engine, prepare_database, session_scope

    url = prepare_database(start=True)  # migrated by the owner; the application role's URL
    engine = get_engine(url)
    with session_scope(engine) as s:
        if not fixture_loaded(s):
            load_fixture(session=s)
    with session_scope(engine) as s:  # the fixture only: other communities are not ours
        partition_fixture(s, actor="bench")
    return url


@contextlib.contextmanager
def api_server(
    url: str, port: int, env: dict[str, str] | None = None, workers: int = 1
) -> Iterator[str]:
    """The API served as a user serves it — ``wangge serve --workers N`` on loopback (its
    output, the access log among it, to wangge-bench-serve.log in the temporary folder) —
    answering /ping; yields its base URL and stops it afterwards."""
    import tempfile

    import httpx

    root = Path(__file__).resolve().parent.parent
    log = (Path(tempfile.gettempdir()) / "wangge-bench-serve.log").open("ab")
    command = [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers)]
    server = subprocess.Popen(
        command,
        cwd=root,
        env=dict(os.environ) | {"WANGGE_DATABASE_URL": url} | (env or {}),
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(base + "/ping", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(30)
        log.close()
