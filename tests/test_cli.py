"""The `wangge` command, run as a user would (a subprocess against a real PostGIS)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time

import geopandas as gpd
import httpx
import pytest

from geo.io.fixture import FIXTURE_DIR
from geo.settings import get_settings

from .conftest import ROOT, fingerprint, free_port

pytestmark = [pytest.mark.cli, pytest.mark.db]


def test_help_explains_each_subcommand(cli):
    ran = cli("--help")
    assert ran.code == 0
    for word in ("import", "export", "demo", "serve", "db", "users"):
        assert word in ran.out
    for sub in (("db", "--help"), ("users", "add", "--help"), ("import", "--help")):
        ran = cli(*sub)
        assert ran.code == 0 and len(ran.out) > 200, sub
    assert "--crs" in cli("import", "--help").out


def test_import_then_export(cli, empty_db, tmp_path):
    for kind in ("communities", "compounds", "buildings"):
        ran = cli("import", str(FIXTURE_DIR / f"{kind}.geojson"), "--kind", kind, url=empty_db)
        assert ran.code == 0, ran.err
        assert "imported" in ran.out
    assert "units=256" in ran.out
    out = tmp_path / "b.gpkg"
    ran = cli("export", "--kind", "buildings", str(out), url=empty_db)
    assert ran.code == 0, ran.err
    back = gpd.read_file(out, layer="buildings")
    assert len(back) == 143 and back.crs.to_epsg() == 4490
    ran = cli(
        "export",
        "--kind",
        "compounds",
        str(tmp_path / "c.geojson"),
        "--crs",
        "EPSG:4544",
        url=empty_db,
    )
    assert ran.code == 0
    assert gpd.read_file(tmp_path / "c.geojson").crs.to_epsg() == 4544


def test_a_bad_file_exits_1_names_the_row_and_writes_nothing(cli, fresh_db, tmp_path):
    gdf = gpd.read_file(FIXTURE_DIR / "facilities.geojson")
    gdf["code"] = gdf["code"] + "-x"
    gdf.loc[4, "kind"] = "karaoke"
    path = tmp_path / "f.geojson"
    gdf.to_file(path)
    before = fingerprint(fresh_db)
    ran = cli("import", str(path), "--kind", "facilities", url=fresh_db)
    assert ran.code == 1
    assert "row 5" in ran.err and "'karaoke'" in ran.err and "nothing written" in ran.err
    assert "Traceback" not in ran.err
    assert fingerprint(fresh_db) == before


def test_a_file_without_crs_is_refused(cli, fresh_db, tmp_path):
    gdf = gpd.read_file(FIXTURE_DIR / "facilities.geojson")
    gdf["code"] = gdf["code"] + "-y"
    gdf.to_file(tmp_path / "f.shp")
    (tmp_path / "f.prj").unlink()
    ran = cli("import", str(tmp_path / "f.shp"), "--kind", "facilities", url=fresh_db)
    assert ran.code == 1 and "--crs" in ran.err
    ran = cli(
        "import",
        str(tmp_path / "f.shp"),
        "--kind",
        "facilities",
        "--crs",
        "EPSG:4490",
        url=fresh_db,
    )
    assert ran.code == 0, ran.err


def test_users_add_prints_a_token_once(cli, fresh_db):
    ran = cli(
        "users",
        "add",
        "--role",
        "dispatcher",
        "--name",
        "调度员甲",
        "--street",
        "510107013",
        url=fresh_db,
    )
    assert ran.code == 0, ran.err
    token = ran.out.strip()
    assert token.startswith("wg_") and len(token) > 30
    listed = cli("users", "list", url=fresh_db)
    assert "调度员甲" in listed.out and token not in listed.out
    bad = cli("users", "add", "--role", "mayor", "--name", "x", url=fresh_db)
    assert bad.code == 1 and "'mayor'" in bad.err
    # no name: no default to the role any more (names are unique, and sign in)
    bad = cli("users", "add", "--role", "worker", url=fresh_db)
    assert bad.code == 2 and "--name" in bad.err
    taken = cli("users", "add", "--role", "worker", "--name", "调度员甲", url=fresh_db)
    assert taken.code == 1 and "'调度员甲'" in taken.err and "taken" in taken.err
    bad = cli("users", "add", "--role", "worker", "--name", "y", "--grid", "NO-SUCH", url=fresh_db)
    assert bad.code == 1 and "NO-SUCH" in bad.err


def test_demo_loads_the_fixture_and_prints_a_summary(cli, empty_db):
    ran = cli("demo", "--no-serve", url=empty_db)
    assert ran.code == 0, ran.err
    assert "household" in ran.out and "4,290" in ran.out and "compound" in ran.out
    assert "104.0" in ran.out  # bounds
    # the written dispatcher map holds every incident's description: its owner's eyes only
    pg_dir = get_settings().pg_dir
    maps = (pg_dir if pg_dir.is_absolute() else ROOT / pg_dir).parent / "maps"
    assert stat.S_IMODE((maps / "dispatcher.html").stat().st_mode) == 0o600
    again = cli("demo", "--no-serve", url=empty_db)
    assert again.code == 0 and "already loaded" in again.out


def _serving(url: str, *args: str) -> subprocess.Popen:
    """``wangge ARGS`` as a long-running process (stopped by the test with Ctrl-C)."""
    env = dict(os.environ) | {"WANGGE_DATABASE_URL": url, "NO_COLOR": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "api.cli", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_demo_serves_the_api_until_interrupted(fresh_db):
    port = free_port()
    proc = _serving(fresh_db, "demo", "--port", str(port))
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the demo API did not come up"
                time.sleep(0.3)
        assert r.status_code == 200 and r.json()["status"] == "ok"
        fc = httpx.get(f"http://127.0.0.1:{port}/compounds").json()
        assert fc["numberMatched"] == 11
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert f"127.0.0.1:{port}" in out


def test_serve_with_two_worker_processes(fresh_db):
    """`wangge serve --workers 2`: two processes answer on one port; Ctrl-C stops both. (Which
    process answered is in /health for admins only.)"""
    from geo.runtime.auth import create_user
    from geo.store.db import make_engine, session_scope

    engine = make_engine(fresh_db)
    with session_scope(engine) as s:
        _, token = create_user(session=s, name="admin", role="admin")
    engine.dispose()
    admin = {"Authorization": f"Bearer {token}"}
    port = free_port()
    proc = _serving(fresh_db, "serve", "--port", str(port), "--workers", "2")
    try:
        deadline = time.monotonic() + 90
        pids: set[int] = set()
        while len(pids) < 2:  # new connections reach both workers sooner or later
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, f"two workers did not answer: {pids}"
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/health", headers=admin, timeout=5)
                assert r.status_code == 200 and r.json()["status"] == "ok"
                pids.add(r.json()["worker"])
            except httpx.TransportError:
                time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert proc.pid not in pids


def test_a_bad_setting_is_a_message_not_a_traceback(cli):
    """Any command with a bad WANGGE_* value: exit 1 and a message naming it — also for the
    band checked across two settings, whose message must not echo the other settings (the
    database URL with its password)."""
    port = cli("users", "list", env={"WANGGE_PG_PORT": "abc"})
    assert port.code == 1 and "WANGGE_PG_PORT='abc'" in port.err
    assert "Traceback" not in port.err
    secret = "postgresql+psycopg://u:S3CRETpw@127.0.0.1:1/x"
    bad = cli("users", "list", env={"WANGGE_MIN_HOUSEHOLDS": "60", "WANGGE_DATABASE_URL": secret})
    assert bad.code == 1 and "WANGGE_MIN_HOUSEHOLDS (60)" in bad.err
    assert "Traceback" not in bad.err and "S3CRETpw" not in bad.err + bad.out


def test_several_workers_share_a_socket_without_nagle():
    """`wangge serve --workers N` listens on a socket with TCP_NODELAY, which the connections
    it accepts inherit (uvicorn's own had none: every answer on a kept-alive connection then
    waited 40 ms for the client's delayed ACK)."""
    import socket

    import uvicorn

    from api.cli.serve import listening_socket

    config = uvicorn.Config("api.app:create_app", factory=True, host="127.0.0.1", port=0)
    sock = listening_socket(config)
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        sock.listen()  # as each worker's server does
        client = socket.create_connection(sock.getsockname()[:2])
        accepted, _ = sock.accept()
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        client.close()
        accepted.close()
    finally:
        sock.close()
