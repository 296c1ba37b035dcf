"""The project's own PostGIS: `db up` twice, `down` twice, `up` after a crash, root and not."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from geo.settings import Settings
from geo.store.pgcluster import LocalCluster

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
        assert url.startswith("postgresql+psycopg://wangge_app:") and "127.0.0.1" in url
        assert _postgis(url)
        with psycopg.connect(_libpq(url)) as c:  # `db up` also migrated the schema
            assert c.execute("SELECT count(*) FROM community").fetchone()[0] == 0
        ran = run_cli("db", "status", "--json", env=env)
        assert ran.code == 0 and '"running": true' in ran.out and "***" in ran.out
        assert run_cli("db", "down", env=env).code == 0
        assert run_cli("db", "status", env=env).code == 3
    finally:
        LocalCluster(tmp_path / "pg").destroy()


# --- least privilege: the owner migrates, the application role only reads and writes data --------
def _refused(conn: psycopg.Connection, statement: str) -> str:
    """The SQLSTATE of ``statement``'s error (rolled back to a savepoint, or on its own on a
    connection in autocommit mode)."""
    try:
        if conn.autocommit:
            conn.execute(statement)
        else:
            with conn.transaction():
                conn.execute(statement)
    except psycopg.Error as exc:
        return str(exc.sqlstate)
    return "accepted"


def test_the_application_role_reads_and_writes_data_and_nothing_more(cluster):
    from geo.store.db import upgrade_schema

    cluster.up(log=lambda _m: None)
    upgrade_schema(cluster.url(role="owner"), cluster.url())
    app = _libpq(cluster.url())
    assert app.startswith("postgresql://wangge_app:")
    denied = "42501"  # insufficient_privilege
    with psycopg.connect(app) as c:
        attrs = c.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls "
            "FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert attrs == (False, False, False, False, False)
        assert c.execute(
            "SELECT count(*) FROM pg_auth_members m JOIN pg_roles u ON u.oid = m.member "
            "WHERE u.rolname = current_user"
        ).fetchone() == (0,)
        # no DDL, no extension, no server program, no server files
        assert _refused(c, "CREATE TABLE stolen (i int)") == denied
        assert _refused(c, "CREATE SCHEMA stolen") == denied
        assert _refused(c, "CREATE EXTENSION pg_trgm") == denied
        assert _refused(c, "COPY (SELECT 1) TO PROGRAM 'id'") == denied
        assert _refused(c, "COPY street FROM '/etc/passwd'") == denied
        assert _refused(c, "ALTER TABLE incident ADD COLUMN stolen int") == denied
        assert _refused(c, "DROP TABLE audit_log") == denied
        assert _refused(c, "TRUNCATE audit_log") == denied
        assert _refused(c, "UPDATE alembic_version SET version_num = '0001'") == denied
        assert _refused(c, "DELETE FROM spatial_ref_sys") == denied
        # the data tables: read, insert, update, delete, with their sequences; TEMP tables
        with c.transaction(force_rollback=True):
            sid = c.execute(
                "INSERT INTO street (code, name, district) VALUES ('t-1', '测试街道', '武侯区') "
                "RETURNING id"
            ).fetchone()[0]
            c.execute("UPDATE street SET name = '改名' WHERE id = %s", (sid,))
            assert c.execute("SELECT name FROM street WHERE id = %s", (sid,)).fetchone() == (
                "改名",
            )
            c.execute("DELETE FROM street WHERE id = %s", (sid,))
            c.execute("CREATE TEMP TABLE staging AS SELECT 1 AS i")
            assert c.execute("SELECT count(*) FROM staging").fetchone() == (1,)
        assert c.execute("SELECT version_num FROM alembic_version").fetchone()
    with psycopg.connect(app, autocommit=True) as c:  # not in a transaction block
        assert _refused(c, "ALTER SYSTEM SET synchronous_commit = off") == denied
    # the owner owns the schema's objects and is no superuser either
    with psycopg.connect(_libpq(cluster.url(role="owner"))) as c:
        assert c.execute(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone() == (False,)
        owners = c.execute(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class WHERE relnamespace = "
            "'public'::regnamespace AND relkind IN ('r', 'S') AND relname <> 'spatial_ref_sys'"
        ).fetchall()
        assert owners == [("wangge_owner",)]
        assert _refused(c, "COPY (SELECT 1) TO PROGRAM 'id'") == denied


def test_durable_commits_as_every_role_sees_them(cluster):
    st = cluster.up(log=lambda _m: None)
    assert st.synchronous_commit == "on"
    assert "synchronous_commit = off" not in (cluster.data / "postgresql.conf").read_text()
    for role in ("app", "owner"):
        with psycopg.connect(_libpq(cluster.url(role=role))) as c:
            assert c.execute("SHOW synchronous_commit").fetchone() == ("on",)


def test_nothing_in_the_code_relaxes_synchronous_commit():
    """Incident, plan and user writes are never relaxed; nothing else is either (the bulk jobs
    commit once per community or per run: a synchronous commit costs them nothing measurable).
    The statements a session could relax its own commits with appear nowhere."""
    root = Path(__file__).resolve().parent.parent
    relax = re.compile(
        r"SET\s+(LOCAL\s+|SESSION\s+)?synchronous_commit\s*(=|TO)\s*'?(off|local|false|no|0)"
        r"|set_config\(\s*'synchronous_commit'|-c\s*synchronous_commit",
        re.IGNORECASE,
    )
    found = [
        f"{p.relative_to(root)}: {m.group(0)}"
        for folder in ("geo", "api", "maps")
        for p in (root / folder).rglob("*.py")
        for m in relax.finditer(p.read_text())
    ]
    assert found == []


# --- an existing installation: a cluster made by the code before the roles ------------------
OLD_CONF = (  # what initdb's postgresql.conf got appended before (synchronous_commit off)
    "\n# --- wangge ---\n"
    "listen_addresses = '127.0.0.1'\n"
    "unix_socket_directories = ''\n"
    "max_connections = 200\n"
    "synchronous_commit = off\n"
    "log_min_messages = warning\n"
    "timezone = 'Asia/Shanghai'\n"
)


def _old_style_cluster(root: Path, database: str) -> LocalCluster:
    """A cluster as the previous version made and left it: one role, the superuser, which
    owns the database and every table (it ran the migrations and the API), and
    ``synchronous_commit = off`` in postgresql.conf; ``cluster.json`` knows one password."""
    import secrets

    from geo.store.db import make_engine, migrate
    from geo.store.pgcluster import find_pg_bindir

    c = LocalCluster(root, settings=Settings(db_name=database))
    c._prepare_root()
    bindir = find_pg_bindir()
    password = secrets.token_urlsafe(24)
    c.data.mkdir(mode=0o700)
    c._chown(c.data)
    pwfile = c.real_root / ".pwfile"
    pwfile.write_text(password + "\n")
    c._chown(pwfile)
    c._run(
        [
            bindir / "initdb",
            *("-D", c.data, "-U", "wangge", "-A", "scram-sha-256", "--pwfile", pwfile),
            *("-E", "UTF8", "--locale=C"),
        ]
    )
    pwfile.unlink()
    with open(c.data / "postgresql.conf", "a") as fh:
        fh.write(OLD_CONF)
    c._save_state(password=password, user="wangge", bindir=str(bindir))
    c._start(bindir)
    port = c._pidfile()[1]  # type: ignore[index]
    c._save_state(port=port)
    su = f"postgresql://wangge:{password}@127.0.0.1:{port}"
    with psycopg.connect(f"{su}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    with psycopg.connect(f"{su}/{database}", autocommit=True) as conn:
        conn.execute("CREATE EXTENSION postgis")
    engine = make_engine(f"{su}/{database}")
    migrate(engine)
    engine.dispose()
    with psycopg.connect(f"{su}/{database}") as conn:
        conn.execute(
            "INSERT INTO street (code, name, district) VALUES ('old-1', '旧街道', '武侯区')"
        )
        conn.execute(
            "INSERT INTO app_user (name, role, token_hash, token_prefix, expires_at) "
            "VALUES ('旧用户', 'admin', repeat('a', 64), 'wg_old', now() + interval '90 days')"
        )
    return c


def test_db_up_brings_an_old_cluster_to_the_roles_and_durable_commits(tmp_path):
    root = tmp_path / "old" / "pg"
    old = _old_style_cluster(root, "wangge_o")
    try:
        su = _libpq(old.url("wangge_o", role="superuser"))
        with psycopg.connect(su) as c:  # the old state, as found
            assert c.execute("SHOW synchronous_commit").fetchone() == ("off",)
            assert c.execute(
                "SELECT count(*) FROM pg_roles WHERE rolname IN ('wangge_owner', 'wangge_app')"
            ).fetchone() == (0,)
        pid = old.status().pid
        env = {"WANGGE_PG_DIR": str(root), "WANGGE_DB_NAME": "wangge_o", "WANGGE_DATABASE_URL": ""}
        ran = run_cli("db", "up", env=env)
        assert ran.code == 0, ran.err
        url = ran.out.strip().splitlines()[-1]
        assert url.startswith("postgresql+psycopg://wangge_app:")
        assert "synchronous_commit = on" in ran.err and "(was off)" in ran.err
        assert old.status().pid == pid  # reloaded, not restarted
        conf = (old.data / "postgresql.conf").read_text()
        assert "synchronous_commit = off" not in conf and "synchronous_commit = on" in conf
        with psycopg.connect(su) as c:
            roles = dict(
                (r[0], r[1:])
                for r in c.execute(
                    "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolcanlogin "
                    "FROM pg_roles WHERE rolname IN ('wangge_owner', 'wangge_app')"
                )
            )
            assert roles == {
                "wangge_owner": (False, False, False, True),
                "wangge_app": (False, False, False, True),
            }
            assert c.execute(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'wangge_o'"
            ).fetchone() == ("wangge_owner",)
            owners = c.execute(
                "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class WHERE relnamespace = "
                "'public'::regnamespace AND relkind IN ('r', 'S', 'i') "
                "AND relname NOT LIKE 'spatial_ref_sys%'"
            ).fetchall()
            assert owners == [("wangge_owner",)]
        with psycopg.connect(_libpq(url)) as c:  # the old data, as the application role
            assert c.execute("SHOW synchronous_commit").fetchone() == ("on",)
            assert c.execute("SELECT name FROM street WHERE code = 'old-1'").fetchone() == (
                "旧街道",
            )
            c.execute("UPDATE app_user SET revoked_at = now() WHERE name = '旧用户'")
            assert _refused(c, "CREATE TABLE stolen (i int)") == "42501"
        ran = run_cli("users", "list", env=env)  # a command, through the application role
        assert ran.code == 0 and "旧用户" in ran.out, ran.err
        # settings overridden again later, by ALTER SYSTEM or per role / database: `db up` again
        with psycopg.connect(su, autocommit=True) as c:
            c.execute("ALTER SYSTEM SET synchronous_commit = off")
            c.execute("ALTER ROLE wangge_app SET synchronous_commit = off")
            c.execute("ALTER DATABASE wangge_o SET synchronous_commit = off")
            c.execute("GRANT pg_execute_server_program TO wangge_app")
            c.execute("ALTER ROLE wangge_owner CREATEROLE")
            c.execute("SELECT pg_reload_conf()")
        ran = run_cli("db", "up", env=env)
        assert ran.code == 0, ran.err
        assert "ALTER SYSTEM SET synchronous_commit = on" in ran.err
        assert "no longer a member of pg_execute_server_program" in ran.err
        with psycopg.connect(_libpq(url)) as c:
            assert c.execute("SHOW synchronous_commit").fetchone() == ("on",)
            assert _refused(c, "COPY (SELECT 1) TO PROGRAM 'id'") == "42501"
        with psycopg.connect(su) as c:
            assert c.execute(
                "SELECT rolcreaterole FROM pg_roles WHERE rolname = 'wangge_owner'"
            ).fetchone() == (False,)
            assert c.execute("SELECT count(*) FROM pg_db_role_setting").fetchone() == (0,)
        ran = run_cli("db", "status", "--json", env=env)
        assert '"synchronous_commit": "on"' in ran.out
        assert '"roles": ["wangge_app", "wangge_owner"]' in ran.out
    finally:
        LocalCluster(root).destroy()


def test_the_commands_and_the_api_work_as_the_application_role(tmp_path):
    """`wangge` without WANGGE_DATABASE_URL, on a cluster of its own: every command and the API
    connect as wangge_app (migrations as wangge_owner), and all of it works: the demo's load,
    partition and assignment, the walking network (pgRouting), a Dask partition, users,
    export, and the API's reads, a report and a bulk-assignment job."""
    import httpx

    from .conftest import free_port

    root = tmp_path / "pg"
    env = {"WANGGE_PG_DIR": str(root), "WANGGE_DATABASE_URL": "", "WANGGE_DB_NAME": "wangge_e"}
    proc = None
    try:
        ran = run_cli("db", "up", env=env)
        assert ran.code == 0, ran.err
        url = ran.out.strip().splitlines()[-1]
        assert url.startswith("postgresql+psycopg://wangge_app:")
        ran = run_cli("demo", "--no-serve", env=env)
        assert ran.code == 0 and "4,290" in ran.out, ran.err
        for args in (
            ("network", "build"),
            ("assign", "households"),
            ("validate", "--community", "510107013001"),
            ("partition", "--community", "510107013001", "--engine", "dask", "--workers", "1"),
            ("export", "--kind", "buildings", str(tmp_path / "b.gpkg")),
        ):
            ran = run_cli(*args, env=env)
            assert ran.code == 0, (args, ran.out, ran.err)
        ran = run_cli(
            "users",
            "add",
            "--role",
            "dispatcher",
            "--name",
            "调度",
            "--street",
            "510107013",
            env=env,
        )
        assert ran.code == 0, ran.err
        token = ran.out.strip()
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
            cwd=Path(__file__).resolve().parent.parent,
            env=dict(os.environ) | env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/ping", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.3)
        staff = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, timeout=30) as c:
            assert c.get("/health").status_code == 200
            assert c.get("/compounds").json()["numberMatched"] == 11
            near = c.get("/nearby", params={"lon": 104.0235, "lat": 30.6285}).json()
            assert near["features"] and near["features"][0]["properties"]["walking_m"]
            body = {"category": "noise", "description": "角色测试", "lon": 104.0235}
            r = c.post("/incidents", json=body | {"lat": 30.6285}, headers=staff)
            assert r.status_code == 201, r.text
            job = c.post("/jobs/assign", json={"kind": "incidents"}, headers=staff).json()
            for _ in range(300):
                state = c.get(f"/jobs/{job['id']}", headers=staff).json()
                if state["status"] in ("done", "failed"):
                    break
                time.sleep(0.1)
            assert state["status"] == "done", state
        cluster = LocalCluster(root, settings=Settings(db_name="wangge_e"))
        with psycopg.connect(_libpq(cluster.url(role="superuser", database="postgres"))) as c:
            users = {
                r[0]
                for r in c.execute(
                    "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = 'wangge_e' "
                    "AND backend_type = 'client backend'"
                )
            }
        assert users == {"wangge_app"}  # the API's pool: the application role only
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=30)
        LocalCluster(root).destroy()
