"""PostGIS stopped and started again while residents report incidents: requests get a clear
503 while it is down, the service (never restarted) recovers by itself, no incident
acknowledged with 201 is lost, and a client retrying with the same Idempotency-Key never
stores one twice."""

from __future__ import annotations

import threading
import time
import uuid

import httpx
import pytest
from sqlalchemy import text

from geo.db import make_engine, migrate, session_scope
from geo.pgcluster import LocalCluster
from geo.settings import Settings

from .conftest import serve_app_process

pytestmark = [pytest.mark.db, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = LocalCluster(
        tmp_path_factory.mktemp("faults") / "pg", settings=Settings(db_name="wangge_f")
    )
    c.up(log=lambda _m: None)
    engine = make_engine(c.url())
    with engine.connect() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        conn.commit()
    migrate(engine)
    from geo.fixture import load_fixture
    from geo.grids import partition_and_store

    with session_scope(engine) as s:
        load_fixture(session=s)
    with session_scope(engine) as s:
        partition_and_store(s, "510107013001", actor="tests")
    engine.dispose()
    yield c
    c.destroy()


def test_postgis_restart_under_load_loses_nothing(cluster):
    url = cluster.url()
    engine = make_engine(url)
    with engine.connect() as conn:
        lon, lat = conn.execute(
            text("SELECT ST_X(position), ST_Y(position) FROM household ORDER BY code LIMIT 1")
        ).one()
    acked: dict[str, str] = {}  # idempotency key -> incident code
    statuses: list[int] = []
    unavailable: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    lifted = {
        "WANGGE_REPORT_RATE_PER_MINUTE": "100000",
        "WANGGE_REPORT_CEILING_PER_MINUTE": "100000",
    }
    with serve_app_process(url, env=lifted) as base:

        def client(n: int) -> None:
            with httpx.Client(base_url=base, timeout=15) as c:
                i = 0
                while not stop.is_set():
                    key = f"fault-{n}-{i}-{uuid.uuid4().hex[:8]}"
                    body = {
                        "category": "noise",
                        "description": f"故障测试 {key}",
                        "lon": lon,
                        "lat": lat,
                        "crs": "cgcs2000",
                    }
                    # retry with the same key until acknowledged (as a careful client does)
                    for _ in range(200):
                        try:
                            r = c.post("/incidents", json=body, headers={"Idempotency-Key": key})
                        except httpx.HTTPError:
                            time.sleep(0.2)
                            continue
                        with lock:
                            statuses.append(r.status_code)
                        if r.status_code == 503:
                            with lock:
                                unavailable.append(r.json()["message"])
                            time.sleep(0.2)
                            continue
                        assert r.status_code == 201, r.text
                        with lock:
                            assert key not in acked or acked[key] == r.json()["code"]
                            acked[key] = r.json()["code"]
                        break
                    i += 1

        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        time.sleep(3)
        before = len(acked)
        port = cluster.status().port
        cluster.down()  # PostGIS stops in the middle of the load
        time.sleep(3)
        during = len(unavailable)
        cluster.up(log=lambda _m: None)
        assert port and cluster.status().port == port  # the same address after a restart
        time.sleep(5)
        stop.set()
        for t in threads:
            t.join(60)
        # the service recovered by itself
        with httpx.Client(base_url=base, timeout=15) as c:
            assert c.get("/health").status_code == 200

            def report(description: str):
                body = {
                    "category": "noise",
                    "description": description,
                    "lon": lon,
                    "lat": lat,
                    "crs": "cgcs2000",
                }
                return c.post("/incidents", json=body, headers={"Idempotency-Key": "replay-1"})

            again = report("故障测试 replay")
            replay = report("故障测试 replay")
            other = report("另一个请求")
    assert before > 0 and during > 0 and len(acked) > before
    assert all("数据库" in m and "retry" in m for m in unavailable)
    assert set(statuses) <= {201, 503}
    assert again.status_code == replay.status_code == 201
    assert replay.json()["code"] == again.json()["code"]
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert other.status_code == 409
    with engine.connect() as conn:
        stored = dict(
            conn.execute(
                text(
                    "SELECT description, count(*) FROM incident WHERE description LIKE "
                    "'故障测试 %' GROUP BY 1"
                )
            ).all()
        )
        codes = set(
            conn.execute(
                text("SELECT code FROM incident WHERE description LIKE '故障测试 fault-%'")
            ).scalars()
        )
    engine.dispose()
    # every acknowledged incident is stored, once
    assert set(acked.values()) <= codes
    assert all(n == 1 for n in stored.values()), {k: n for k, n in stored.items() if n > 1}
    assert stored["故障测试 replay"] == 1
