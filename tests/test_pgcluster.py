"""The project's own PostGIS: `db up` twice, `down` twice, `up` after a crash, root and not."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from geo.pgcluster import LocalCluster
from geo.settings import Settings

from .conftest import run_cli

pytestmark = pytest.mark.slow


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _postgis(url: str) -> str:
    with psycopg.connect(_libpq(url), connect_timeout=5) as c:
        return c.execute("SELECT postgis_lib_version()").fetchone()[0]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster") / "pg"
    c = LocalCluster(root, settings=Settings(db_name="wangge_c"))
    yield c
    c.destroy()
    assert not root.exists() and not root.is_symlink()


def test_up_twice_is_harmless_and_serves_postgis(cluster):
    first = cluster.up(log=lambda _m: None)
    assert first.running and first.port and first.pid
    assert _postgis(cluster.url()).startswith("3.")
    second = cluster.up(log=lambda _m: None)
    assert (second.pid, second.port) == (first.pid, first.port)
    assert cluster.status().running


def test_down_twice_is_harmless(cluster):
    cluster.up(log=lambda _m: None)
    assert cluster.down() is True
    assert cluster.status().running is False
    assert cluster.down() is False
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(_libpq(cluster.url()), connect_timeout=2)


def test_up_after_a_killed_server_recovers(cluster):
    st = cluster.up(log=lambda _m: None)
    os.kill(st.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{st.pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (cluster.data / "postmaster.pid").exists()  # the crash left it behind
    messages: list[str] = []
    again = cluster.up(log=messages.append)
    assert again.running and again.pid != st.pid
    assert _postgis(cluster.url())


def test_up_with_a_pid_file_naming_a_foreign_live_process(cluster):
    """A stale postmaster.pid whose pid now belongs to another process (pid reuse)."""
    cluster.up(log=lambda _m: None)
    cluster.down()
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        pidfile = cluster.data / "postmaster.pid"
        pidfile.write_text(f"{sleeper.pid}\n{cluster.data}\n0\n5432\n\n127.0.0.1\n0 0\nready\n")
        if os.geteuid() == 0:
            shutil.chown(pidfile, cluster.os_user)
        messages: list[str] = []
        st = cluster.up(log=messages.append)
        assert st.running and st.pid != sleeper.pid
        assert any("stale" in m for m in messages)
    finally:
        sleeper.kill()


@pytest.mark.skipif(os.geteuid() != 0, reason="relocation only happens when running as root")
def test_as_root_an_unreachable_folder_is_relocated(cluster):
    # pytest's tmp folders are mode 700 and owned by root: the postgres user cannot enter them
    assert cluster.root.is_symlink()
    target = cluster.root.resolve()
    assert str(target).startswith("/var/lib/wangge/")
    assert pwd.getpwuid(target.stat().st_uid).pw_name == cluster.os_user
    assert pwd.getpwuid((target / "data").stat().st_uid).pw_name == cluster.os_user


def _as_user_in_fork(user: str, root: Path) -> tuple[bool, int]:
    """Run ``up`` then ``down`` in a forked child that has dropped root for ``user``.

    A fork, not a new interpreter: the interpreter may live under /root, where ``user`` cannot
    read it; everything the child needs is imported before the fork.
    """
    import json

    pw = pwd.getpwnam(user)
    LocalCluster(root)  # import everything in the parent
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            os.close(read_fd)
            os.setgroups([])
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)
            c = LocalCluster(root)
            assert not c.is_root
            st = c.up(log=lambda _m: None)
            with psycopg.connect(_libpq(c.url()), connect_timeout=5) as conn:
                conn.execute("SELECT postgis_lib_version()").fetchone()
            c.destroy()
            os.write(write_fd, json.dumps([st.running, st.port]).encode())
            code = 0
        except BaseException as exc:
            os.write(write_fd, json.dumps(["error", repr(exc)]).encode())
        finally:
            os._exit(code)
    os.close(write_fd)
    data = b""
    while chunk := os.read(read_fd, 65536):
        data += chunk
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    result = json.loads(data or b'["error", "no output"]')
    assert os.waitstatus_to_exitcode(status) == 0, result
    return bool(result[0]), int(result[1])


def test_as_an_ordinary_user(tmp_path):
    """`db up` / `db down` run by an unprivileged user (when testing as root: a forked child
    that dropped root for the postgres user)."""
    if os.geteuid() == 0:
        user = "postgres"
        work = Path("/tmp") / f"wangge-user-{os.getpid()}"
        work.mkdir(mode=0o755, exist_ok=True)
        shutil.chown(work, user)
        try:
            running, port = _as_user_in_fork(user, work / "pg")
        finally:
            shutil.rmtree(work, ignore_errors=True)
    else:
        c = LocalCluster(tmp_path / "pg")
        st = c.up(log=lambda _m: None)
        running, port = st.running, st.port or 0
        c.destroy()
    assert running is True and port > 0


def test_cli_db_commands_with_a_given_url_start_nothing(fixture_url, tmp_path):
    env = {"WANGGE_PG_DIR": str(tmp_path / "never")}
    ran = run_cli("db", "up", url=fixture_url, env=env)
    assert ran.code == 0 and "nothing started" in ran.out
    assert not (tmp_path / "never").exists()


def test_cli_db_status_up_down(tmp_path):
    env = {"WANGGE_PG_DIR": str(tmp_path / "pg"), "WANGGE_DATABASE_URL": ""}
    try:
        ran = run_cli("db", "status", env=env)
        assert ran.code == 3 and "running          False" in ran.out
        ran = run_cli("db", "up", env=env)
        assert ran.code == 0, ran.err
        url = ran.out.strip().splitlines()[-1]
        assert url.startswith("postgresql+psycopg://wangge:") and "127.0.0.1" in url
        assert _postgis(url)
        with psycopg.connect(_libpq(url)) as c:  # `db up` also migrated the schema
            assert c.execute("SELECT count(*) FROM community").fetchone()[0] == 0
        ran = run_cli("db", "status", "--json", env=env)
        assert ran.code == 0 and '"running": true' in ran.out and "***" in ran.out
        assert run_cli("db", "down", env=env).code == 0
        assert run_cli("db", "status", env=env).code == 3
    finally:
        LocalCluster(tmp_path / "pg").destroy()
