"""The server's lifecycle: its status, ``initdb`` on first use, ``pg_ctl`` start (on a free
loopback port, a stale ``postmaster.pid`` recovered) and stop, and ``up`` — the roles, durable
commits and the database with PostGIS checked and fixed at every start."""

from __future__ import annotations

import contextlib
import re
import secrets
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from geo.errors import SetupError
from geo.store.db import fetch_value, grant_application_role
from geo.store.pgcluster.binaries import find_pg_bindir, install_hint
from geo.store.pgcluster.durability import OFF, fix_conf, reset_overrides
from geo.store.pgcluster.folder import ClusterFolder
from geo.store.pgcluster.roles import APP, OWNER, PASSWORD_KEYS, SUPERUSER, ensure_role, hand_over

__all__ = ["ClusterStatus", "LocalCluster"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_free(port: int) -> bool:
    """Whether a server could listen on the port now. SO_REUSEADDR as PostgreSQL sets it, so
    connections of a server just stopped (TIME_WAIT) do not count: a restart keeps its port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class ClusterStatus:
    data_dir: str
    running: bool
    pid: int | None
    port: int | None
    url: str | None
    server_version: str | None = None
    postgis_version: str | None = None
    synchronous_commit: str | None = None
    roles: list[str] | None = None

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        if self.url:
            d["url"] = _hide_password(self.url)
        return d


def _hide_password(url: str) -> str:
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


class LocalCluster(ClusterFolder):
    """A private PostgreSQL cluster in ``root`` (default: setting ``pg_dir``)."""

    # --- state of the server ----------------------------------------------------------------
    def initialized(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def _pidfile(self) -> tuple[int, int] | None:
        """(pid, port) from postmaster.pid, or None."""
        try:
            lines = (self.data / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return None
        try:
            return int(lines[0]), int(lines[3])
        except (IndexError, ValueError):
            return (int(lines[0]) if lines and lines[0].strip().isdigit() else -1), 0

    def _server_alive(self, pid: int) -> bool:
        """The process ``pid`` exists and is a postgres server of this data folder."""
        if pid <= 0:
            return False
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            return False
        except PermissionError:
            return True
        text = b" ".join(cmdline).decode(errors="replace")
        return "postgres" in text and str(self.data) in text

    def status(self) -> ClusterStatus:
        pf = self._pidfile() if self.root.exists() else None
        running = pf is not None and self._server_alive(pf[0])
        st = ClusterStatus(
            data_dir=str(self.data),
            running=running,
            pid=pf[0] if running and pf else None,
            port=pf[1] if running and pf else None,
            url=None,
        )
        if running:
            with contextlib.suppress(SetupError):  # roles not made yet (an older cluster)
                st.url = self.url(port=st.port)
            with (
                contextlib.suppress(psycopg.Error),
                psycopg.connect(self._libpq("postgres", st.port), connect_timeout=5) as c,
            ):
                st.server_version = fetch_value(c, "SHOW server_version")
                row = c.execute(
                    "SELECT default_version FROM pg_available_extensions WHERE name='postgis'"
                ).fetchone()
                st.postgis_version = row[0] if row else None
                st.synchronous_commit = fetch_value(c, "SHOW synchronous_commit")
                st.roles = [
                    r[0]
                    for r in c.execute(
                        "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s) ORDER BY rolname",
                        ([OWNER, APP],),
                    )
                ]
        return st

    # --- lifecycle ------------------------------------------------------------------------
    def _initdb(self, bindir: Path) -> None:
        password = secrets.token_urlsafe(24)
        if self.data.exists() and any(self.data.iterdir()):
            raise SetupError(f"{self.data} 非空但不是数据库集群 (is not empty and not a cluster)")
        self.data.mkdir(mode=0o700, exist_ok=True)
        self._chown(self.data)
        pwfile = self.real_root / ".pwfile"
        pwfile.write_text(password + "\n")
        pwfile.chmod(0o600)
        self._chown(pwfile)
        try:
            self._run(
                [
                    bindir / "initdb",
                    "-D",
                    self.data,
                    "-U",
                    SUPERUSER,
                    "-A",
                    "scram-sha-256",
                    "--pwfile",
                    pwfile,
                    "-E",
                    "UTF8",
                    "--locale=C",
                ],
                timeout=300,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        conf = self.data / "postgresql.conf"
        extra = (
            "\n# --- wangge ---\n"
            "listen_addresses = '127.0.0.1'\n"
            "unix_socket_directories = ''\n"
            "max_connections = 200\n"
            "shared_buffers = '256MB'\n"
            "work_mem = '32MB'\n"
            "maintenance_work_mem = '256MB'\n"
            "# a city's bulk partition rewrites millions of household rows: fewer checkpoints\n"
            "# (and full-page images after each) while it runs\n"
            "max_wal_size = '4GB'\n"
            "checkpoint_timeout = '15min'\n"
            "# a commit is on disk before it is acknowledged: a crash loses no answered report\n"
            "synchronous_commit = on\n"
            "log_min_messages = warning\n"
            "timezone = 'Asia/Shanghai'\n"
        )
        with open(conf, "a") as fh:
            fh.write(extra)
        self._save_state(password=password, user=SUPERUSER, bindir=str(bindir))

    def _recover_stale_pid(self) -> bool:
        pf = self._pidfile()
        if pf and not self._server_alive(pf[0]):
            (self.data / "postmaster.pid").unlink(missing_ok=True)
            return True
        return False

    def _choose_port(self) -> int:
        if self.settings.pg_port:
            return self.settings.pg_port
        last = self._state_port()
        return last if last and _port_free(last) else _free_port()

    def up(
        self, *, database: str | None = None, log: Callable[[str], object] = print
    ) -> ClusterStatus:
        """Start (creating if needed) the cluster and the database; return its status."""
        self._prepare_root()
        with self._lock():
            bindir = find_pg_bindir(self.settings.pg_bin)
            if not self.initialized():
                log(f"initdb {self.data} (as {self.os_user})")
                self._initdb(bindir)
            st = self.status()
            if not st.running:
                if self._recover_stale_pid():
                    log("recovered a stale postmaster.pid left by a crash")
                self._start(bindir)
            st = self.status()
            assert st.port is not None
            self._save_state(port=st.port)
            self._ensure_durable(st.port, log)
            self._ensure_roles(st.port, log)
            self.ensure_database(database or self.settings.db_name, bindir=bindir, log=log)
            return self.status()

    def _start(self, bindir: Path) -> None:
        last_err: SetupError | None = None
        for _ in range(10):
            port = self._choose_port()
            proc = self._run(
                [
                    bindir / "pg_ctl",
                    "-D",
                    self.data,
                    "-l",
                    self.log_file,
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    f"-p {port}",
                    "start",
                ],
                check=False,
            )
            if proc.returncode == 0:
                return
            tail = self._log_tail()
            last_err = SetupError(
                f"PostgreSQL 启动失败 (failed to start) in {self.data}:\n{proc.stdout}{proc.stderr}"
                f"\n--- {self.log_file} ---\n{tail}"
            )
            if "in use" in tail or "Address already in use" in tail:
                self._save_state(port=0)
                time.sleep(0.5)
                continue
            if "pre-existing shared memory" in tail or "lock file" in tail:
                time.sleep(1.0)  # children of a killed server still dying
                self._recover_stale_pid()
                continue
            break
        assert last_err is not None
        raise last_err

    def _log_tail(self, n: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-n:])
        except (FileNotFoundError, PermissionError):
            return ""

    def _ensure_durable(self, port: int, log: Callable[[str], object] = print) -> None:
        """``synchronous_commit = on``, for clusters made by older versions too (their
        postgresql.conf had it off: a crash lost commits already acknowledged). The line is
        fixed in postgresql.conf, an override by ALTER SYSTEM or per database or role is reset,
        and the running server reloads its configuration; :meth:`ensure_database` checks the
        result from a new connection of the application role."""
        changed = fix_conf(self.data / "postgresql.conf", log)
        with psycopg.connect(self._libpq("postgres", port), autocommit=True) as c:
            reset_overrides(c, changed, log)

    def _ensure_roles(self, port: int, log: Callable[[str], object] = print) -> None:
        """The owner and the application role exist, can log in with the passwords of
        ``cluster.json`` (made on first use, for older clusters too), and have no privilege
        beyond that (:func:`~geo.store.pgcluster.roles.ensure_role`)."""
        with psycopg.connect(self._libpq("postgres", port), autocommit=True) as c:
            for role in (OWNER, APP):
                key = PASSWORD_KEYS[role]
                password = str(self._state().get(key) or "")
                new_password = not password
                if new_password:
                    password = secrets.token_urlsafe(24)
                    self._save_state(**{key: password})  # kept before the role uses it
                ensure_role(c, role, password, new_password=new_password, log=log)

    def ensure_database(
        self, name: str, *, bindir: Path | None = None, log: Callable[[str], object] = print
    ) -> None:
        """Database ``name``, owned by the owner role, with the postgis extension (and
        pgrouting when installed: the roles cannot create extensions), the application role's
        privileges, and durable commits as that role sees them. Objects that an older cluster
        made as the superuser (database, tables, sequences, views) are handed to the owner."""
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise SetupError(f"数据库名不合法 (invalid database name): {name!r}")
        st = self.status()
        assert st.port is not None
        with psycopg.connect(self._libpq("postgres", st.port), autocommit=True) as c:
            row = c.execute(
                "SELECT default_version FROM pg_available_extensions WHERE name='postgis'"
            ).fetchone()
            if row is None:
                ver = (st.server_version or "15").split(".")[0]
                raise SetupError(
                    f"PostgreSQL {ver} 缺少 PostGIS 扩展 (PostGIS is missing). 安装 (install): "
                    + install_hint(f"postgresql-{ver}-postgis-3")
                )
            row = c.execute(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname=%s", (name,)
            ).fetchone()
            if row is None:
                c.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(name), sql.Identifier(OWNER)
                    )
                )
            elif row[0] != OWNER:
                c.execute(
                    sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                        sql.Identifier(name), sql.Identifier(OWNER)
                    )
                )
                log(f"database {name}: owner {OWNER} (was {row[0]})")
        with psycopg.connect(self._libpq(name, st.port), autocommit=True) as c:
            c.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            if c.execute(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'pgrouting'"
            ).fetchone():
                c.execute("CREATE EXTENSION IF NOT EXISTS pgrouting")
            hand_over(c, log)
            grant_application_role(c, APP, owner=OWNER)
        self._check_durable(name, st.port)

    def _check_durable(self, name: str, port: int, timeout: float = 10.0) -> None:
        """A new connection of the application role commits with synchronous_commit on (the
        reload of :meth:`_ensure_durable` reaches new backends within moments)."""
        deadline = time.monotonic() + timeout
        while True:
            with psycopg.connect(self._libpq(name, port, role="app"), connect_timeout=5) as c:
                value = fetch_value(c, "SHOW synchronous_commit")
            if value.lower() not in OFF:
                return
            if time.monotonic() > deadline:
                raise SetupError(
                    f"{APP} 在数据库 {name} 中的 synchronous_commit 仍为 {value} "
                    f"(is still {value} for {APP} in {name}): 崩溃会丢失已确认的提交 (a crash "
                    "would lose acknowledged commits); 检查 (check) postgresql.conf, "
                    "postgresql.auto.conf, ALTER DATABASE/ROLE … SET"
                )
            time.sleep(0.1)

    def drop_database(self, name: str) -> None:
        st = self.status()
        with psycopg.connect(self._libpq("postgres", st.port), autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def down(self) -> bool:
        """Stop the server (fast shutdown). Returns whether one was running."""
        if not self.root.exists() or not self.initialized():
            return False
        st = self.status()
        if not st.running:
            self._recover_stale_pid()
            return False
        bindir = find_pg_bindir(self.settings.pg_bin)
        self._run([bindir / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "60", "stop"])
        return True

    def destroy(self) -> None:
        """Stop the server and delete the cluster (its folder, and the link to it)."""
        self.down()
        if not self.root.exists() and not self.root.is_symlink():
            return
        real = self.real_root
        shutil.rmtree(real, ignore_errors=False)
        if self.root.is_symlink():
            self.root.unlink()
