"""The project's own PostgreSQL + PostGIS cluster, in a data folder of its own.

``wangge db up`` runs :meth:`LocalCluster.up`: it finds the system's PostgreSQL binaries, creates
the cluster (``initdb``) on first use, starts it (``pg_ctl``) on a free loopback port, creates the
database and the ``postgis`` extension, and returns the URL. ``up`` twice is harmless; a stale
``postmaster.pid`` left by a crash is recovered.

initdb and pg_ctl refuse to run as root. When Wangge runs as root, the cluster is run by an
unprivileged OS user (setting ``pg_os_user``, default ``postgres``; created when missing) who owns
the data folder. If that user cannot reach the configured folder (a checkout under ``/root`` is
mode 700), the cluster is placed under ``/var/lib/wangge/`` and the configured path becomes a
symbolic link to it, so that the folder is still the project's own.

Connections use TCP on 127.0.0.1 only, with generated passwords (SCRAM) kept in
``cluster.json`` (mode 600) beside the data folder.

Three roles, each with its own password (least privilege):

* ``wangge`` (:data:`SUPERUSER`), the cluster's own superuser made by initdb: only this module
  uses it, to create the database, the roles and the extensions;
* ``wangge_owner`` (:data:`OWNER`) owns the database and its schema and runs the migrations
  (``WANGGE_ADMIN_DATABASE_URL``);
* ``wangge_app`` (:data:`APP`), what the API, the jobs and the commands connect as
  (``WANGGE_DATABASE_URL``): not a superuser, no CREATE on the schema or the database (so no
  DDL, no ``CREATE EXTENSION``, no ``COPY … TO PROGRAM``), reads and writes the data tables, may
  create TEMP tables.

Commits are durable: ``synchronous_commit = on``. Clusters made by older versions (superuser
only, ``synchronous_commit = off``, which lost commits already acknowledged when PostgreSQL
crashed) are brought to both at every :meth:`LocalCluster.up`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

from geo.errors import SetupError
from geo.settings import Settings, get_settings
from geo.store.db import grant_application_role

__all__ = ["APP", "OWNER", "ROLES", "SUPERUSER", "ClusterStatus", "LocalCluster", "find_pg_bindir"]

_SEARCH = (
    "/usr/lib/postgresql/*/bin",
    "/usr/pgsql-*/bin",
    "/usr/local/pgsql/bin",
    "/opt/homebrew/opt/postgresql*/bin",
    "/usr/local/opt/postgresql*/bin",
)
SUPERUSER = "wangge"  # initdb's bootstrap superuser: manages the cluster, nothing else
OWNER = "wangge_owner"  # owns the database and the schema: migrations
APP = "wangge_app"  # the API, jobs and commands: data only
DB_USER = SUPERUSER
ROLES = {"superuser": SUPERUSER, "owner": OWNER, "app": APP}
_PASSWORD_KEYS = {SUPERUSER: "password", OWNER: "owner_password", APP: "app_password"}
# what the owner and the application role are not (checked and fixed at every `up`)
_LEAST = {
    "rolsuper": "NOSUPERUSER",
    "rolcreatedb": "NOCREATEDB",
    "rolcreaterole": "NOCREATEROLE",
    "rolreplication": "NOREPLICATION",
    "rolbypassrls": "NOBYPASSRLS",
}
_OFF = {"off", "false", "no", "0"}


def _version_key(p: Path) -> tuple[int, ...]:
    nums = re.findall(r"\d+", str(p))
    return tuple(int(n) for n in nums) or (0,)


def find_pg_bindir(configured: Path | None = None) -> Path:
    """The folder with ``initdb`` and ``pg_ctl``: the setting if given, else the newest of the
    usual places, else ``PATH``. Raises :class:`SetupError` naming the install command."""
    if configured is not None:
        if (configured / "pg_ctl").exists() and (configured / "initdb").exists():
            return configured
        raise SetupError(f"WANGGE_PG_BIN={configured} 中没有 initdb/pg_ctl (has no initdb/pg_ctl)")
    found: list[Path] = []
    for pattern in _SEARCH:
        base = Path("/")
        found += [p for p in base.glob(pattern.lstrip("/")) if (p / "initdb").exists()]
    if found:
        return sorted(found, key=_version_key)[-1]
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).parent
    raise SetupError(
        "未找到 PostgreSQL 服务器程序 (PostgreSQL server binaries not found: initdb, pg_ctl). "
        "安装 (install): "
        + _install_hint("postgresql postgresql-15-postgis-3")
        + " — 或设置 (or set) WANGGE_DATABASE_URL"
    )


def _install_hint(packages: str) -> str:
    if shutil.which("apt-get"):
        return f"sudo apt-get update && sudo apt-get install -y {packages}"
    if shutil.which("brew"):
        return "brew install postgresql postgis"
    if shutil.which("dnf"):
        return "sudo dnf install -y postgresql-server postgis"
    return f"install {packages} with your platform's package manager"


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


class LocalCluster:
    """A private PostgreSQL cluster in ``root`` (default: setting ``pg_dir``)."""

    def __init__(self, root: Path | str | None = None, *, settings: Settings | None = None):
        self.settings = settings or get_settings()
        self.root = Path(root or self.settings.pg_dir).expanduser().absolute()
        self.is_root = os.geteuid() == 0
        self.os_user = (
            self.settings.pg_os_user if self.is_root else pwd.getpwuid(os.geteuid()).pw_name
        )

    # --- paths and state ------------------------------------------------------------------
    @property
    def real_root(self) -> Path:
        """The folder itself (the symlink's target when the cluster was relocated)."""
        return self.root.resolve()

    @property
    def data(self) -> Path:
        return self.real_root / "data"

    @property
    def state_file(self) -> Path:
        return self.real_root / "cluster.json"

    @property
    def log_file(self) -> Path:
        return self.real_root / "postgres.log"

    def _state(self) -> dict[str, object]:
        try:
            return dict(json.loads(self.state_file.read_text()))
        except FileNotFoundError:
            return {}

    def _save_state(self, **kw: object) -> None:
        state = self._state() | kw
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.chmod(0o600)
        tmp.replace(self.state_file)

    def _state_port(self) -> int:
        """The port the cluster last listened on (0: never started)."""
        return int(str(self._state().get("port") or 0))

    def url(
        self, database: str | None = None, port: int | None = None, *, role: str = "app"
    ) -> str:
        """The URL of ``database`` (default: setting ``db_name``) for ``role``: ``app`` (the
        API, jobs, commands), ``owner`` (migrations) or ``superuser`` (managing the cluster)."""
        if role not in ROLES:
            raise SetupError(f"未知角色 (unknown role) {role!r}; 可选 (one of): {', '.join(ROLES)}")
        port = port or self._state_port()
        user = ROLES[role]
        pw = quote(self.password(user), safe="")
        db = database or self.settings.db_name
        return f"postgresql+psycopg://{user}:{pw}@127.0.0.1:{port}/{db}"

    def password(self, user: str, *, port: int | None = None) -> str:
        """The password of the cluster's role ``user`` (from ``cluster.json``); with ``port``,
        only if the cluster listens there (a URL of another server is not this one's)."""
        state = self._state()
        if port is not None and self._state_port() != port:
            raise SetupError(f"本地集群不在端口 {port} (the local cluster is not on port {port})")
        key = _PASSWORD_KEYS.get(user)
        pw = state.get(key) if key else None
        if not pw:
            raise SetupError(
                f"本地集群 {self.root} 还没有角色 {user} (the local cluster has no role {user!r} "
                "yet): 运行 (run) `wangge db up`"
            )
        return str(pw)

    # --- running commands as the cluster's owner ---------------------------------------------
    def _run(
        self, args: Sequence[str | os.PathLike[str]], *, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        cmd = [str(a) for a in args]
        if self.is_root:
            runuser = shutil.which("runuser")
            if runuser is None:
                raise SetupError(
                    "以 root 运行需要 runuser (running as root needs runuser, util-linux)"
                )
            cmd = [runuser, "-u", self.os_user, "--", *cmd]
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd="/",
            env=os.environ | {"LC_ALL": "C"},
        )
        if check and proc.returncode != 0:
            raise SetupError(
                f"命令失败 (command failed): {' '.join(cmd)}\n{proc.stdout}{proc.stderr}".strip()
            )
        return proc

    def _ensure_os_user(self) -> None:
        if not self.is_root:
            return
        try:
            pwd.getpwnam(self.os_user)
        except KeyError:
            subprocess.run(
                [
                    "useradd",
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    self.os_user,
                ],
                check=True,
            )

    def _chown(self, path: Path) -> None:
        if self.is_root:
            pw = pwd.getpwnam(self.os_user)
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def _reachable(self, path: Path) -> bool:
        if not self.is_root:
            return os.access(path, os.W_OK | os.X_OK)
        return self._run(["test", "-w", path, "-a", "-x", path], check=False).returncode == 0

    def _prepare_root(self) -> None:
        """Create the folder, owned by the cluster's user, relocating it when unreachable."""
        self._ensure_os_user()
        if self.root.is_symlink():
            target = self.root.resolve()
            target.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._chown(target)
            return
        fresh = not self.root.exists()
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._chown(self.root)
        if self._reachable(self.root):
            return
        if not fresh and any(self.root.iterdir()):
            raise SetupError(
                f"{self.os_user} 无法访问数据目录 (user {self.os_user} cannot reach) {self.root}; "
                "设置 WANGGE_PG_DIR 到其可访问的位置 (set WANGGE_PG_DIR to a folder it can reach, "
                "e.g. under /var/lib)"
            )
        digest = hashlib.sha1(str(self.root).encode()).hexdigest()[:10]
        slug = "-".join(part.strip(".") for part in self.root.parts[-3:] if part.strip("./"))
        target = Path("/var/lib/wangge") / f"{slug}-{digest}"
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        target.mkdir(exist_ok=True, mode=0o700)
        self._chown(target)
        self.root.rmdir()
        self.root.symlink_to(target, target_is_directory=True)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        lock = self.real_root / ".lock"
        with open(lock, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

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
        running = bool(pf) and self._server_alive(pf[0])  # type: ignore[index]
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
                st.server_version = c.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
                row = c.execute(
                    "SELECT default_version FROM pg_available_extensions WHERE name='postgis'"
                ).fetchone()
                st.postgis_version = row[0] if row else None
                st.synchronous_commit = c.execute("SHOW synchronous_commit").fetchone()[0]  # type: ignore[index]
                st.roles = [
                    r[0]
                    for r in c.execute(
                        "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s) ORDER BY rolname",
                        ([OWNER, APP],),
                    )
                ]
        return st

    def _libpq(self, database: str, port: int | None = None, *, role: str = "superuser") -> str:
        """libpq URL (psycopg), as the superuser unless told otherwise: for this module."""
        url = self.url(database, port, role=role)
        return url.replace("postgresql+psycopg://", "postgresql://")

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
                    DB_USER,
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
            "# a commit is on disk before it is acknowledged: a crash loses no answered report\n"
            "synchronous_commit = on\n"
            "log_min_messages = warning\n"
            "timezone = 'Asia/Shanghai'\n"
        )
        with open(conf, "a") as fh:
            fh.write(extra)
        self._save_state(password=password, user=DB_USER, bindir=str(bindir))

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

    def up(self, *, database: str | None = None, log=print) -> ClusterStatus:
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

    def _ensure_durable(self, port: int, log=print) -> None:
        """``synchronous_commit = on``, for clusters made by older versions too (their
        postgresql.conf had it off: a crash lost commits already acknowledged). The line is
        fixed in postgresql.conf, an override by ALTER SYSTEM or per database or role is reset,
        and the running server reloads its configuration; :meth:`ensure_database` checks the
        result from a new connection of the application role."""
        conf = self.data / "postgresql.conf"
        text = conf.read_text()
        fixed = re.sub(
            r"^([ \t]*)synchronous_commit[ \t]*=[ \t]*'?(off|false|no|0)'?[ \t]*(#.*)?$",
            r"\1synchronous_commit = on  # wangge: was off, which lost acknowledged commits",
            text,
            flags=re.IGNORECASE | re.MULTILINE,
        )
        if fixed != text:
            conf.write_text(fixed)  # an existing file: its owner and mode are kept
            log(f"synchronous_commit = on in {conf} (was off)")
        changed = fixed != text
        with psycopg.connect(self._libpq("postgres", port), autocommit=True) as c:
            # what the files now say, read afresh (postgresql.auto.conf of ALTER SYSTEM included)
            bad_files = c.execute(
                "SELECT sourcefile, sourceline, setting FROM pg_file_settings "
                "WHERE name = 'synchronous_commit' AND applied"
            ).fetchall()
            if any(str(v).strip().lower() in _OFF for _, _, v in bad_files):
                c.execute("ALTER SYSTEM SET synchronous_commit = on")
                log("ALTER SYSTEM SET synchronous_commit = on")
                changed = True
            overrides = c.execute(
                "SELECT d.datname, r.rolname, x FROM pg_db_role_setting s "
                "LEFT JOIN pg_database d ON d.oid = s.setdatabase "
                "LEFT JOIN pg_roles r ON r.oid = s.setrole, unnest(s.setconfig) x "
                "WHERE x ILIKE 'synchronous_commit=%%'"
            ).fetchall()
            for datname, rolname, setting in overrides:
                if setting.split("=", 1)[1].strip().strip("'\"").lower() not in _OFF:
                    continue
                stmt = sql.SQL("ALTER {} {}{} RESET synchronous_commit").format(
                    sql.SQL("ROLE") if rolname else sql.SQL("DATABASE"),
                    sql.Identifier(rolname or datname),
                    sql.SQL(" IN DATABASE {}").format(sql.Identifier(datname))
                    if rolname and datname
                    else sql.SQL(""),
                )
                c.execute(stmt)
                log(f"{stmt.as_string(c)} (was {setting})")
            running = c.execute("SHOW synchronous_commit").fetchone()[0]  # type: ignore[index]
            if changed or running.lower() in _OFF:  # the files were right, not yet reloaded
                c.execute("SELECT pg_reload_conf()")

    def _ensure_roles(self, port: int, log=print) -> None:
        """The owner and the application role exist, can log in with the passwords of
        ``cluster.json``, and have no privilege beyond that: not superuser, no CREATEDB,
        CREATEROLE, REPLICATION or BYPASSRLS, member of no role (``pg_execute_server_program``
        would allow ``COPY … TO PROGRAM``). Made on first use, for older clusters too."""
        with psycopg.connect(self._libpq("postgres", port), autocommit=True) as c:
            for role in (OWNER, APP):
                key = _PASSWORD_KEYS[role]
                password = str(self._state().get(key) or "")
                new_password = not password
                if new_password:
                    password = secrets.token_urlsafe(24)
                    self._save_state(**{key: password})  # kept before the role uses it
                ident = sql.Identifier(role)
                row = c.execute(
                    "SELECT rolcanlogin, "
                    + ", ".join(_LEAST)
                    + " FROM pg_roles WHERE rolname = %s",
                    (role,),
                ).fetchone()
                # the verifier, not the password, goes to the server (and to any log)
                verifier = c.pgconn.encrypt_password(
                    password.encode(), role.encode(), b"scram-sha-256"
                ).decode()
                if row is None:
                    c.execute(
                        sql.SQL("CREATE ROLE {} LOGIN {} PASSWORD {}").format(
                            ident, sql.SQL(" ".join(_LEAST.values())), sql.Literal(verifier)
                        )
                    )
                    log(f"created role {role}")
                    continue
                if not row[0] or any(row[1:]):
                    c.execute(
                        sql.SQL("ALTER ROLE {} LOGIN {}").format(
                            ident, sql.SQL(" ".join(_LEAST.values()))
                        )
                    )
                    log(f"role {role}: {' '.join(_LEAST.values())}")
                if new_password:
                    c.execute(
                        sql.SQL("ALTER ROLE {} PASSWORD {}").format(ident, sql.Literal(verifier))
                    )
                for (parent,) in c.execute(
                    "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
                    "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = %s",
                    (role,),
                ).fetchall():
                    c.execute(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(parent), ident))
                    log(f"role {role}: no longer a member of {parent}")

    def ensure_database(self, name: str, *, bindir: Path | None = None, log=print) -> None:
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
                    + _install_hint(f"postgresql-{ver}-postgis-3")
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
            self._hand_over(c, log)
            grant_application_role(c, APP, owner=OWNER)
        self._check_durable(name, st.port)

    @staticmethod
    def _hand_over(c: psycopg.Connection, log=print) -> None:
        """Give the owner role what the superuser owns in schema public (an older cluster
        migrated as the superuser), extensions' own objects excepted. ALTER TABLE … OWNER
        also moves the table's indexes and the sequences of its columns."""
        schema_owner = c.execute(
            "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'public'"
        ).fetchone()
        if schema_owner and schema_owner[0] == SUPERUSER:
            c.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(OWNER)))
        moved = []
        for relname, kind in c.execute(
            "SELECT c.relname, c.relkind FROM pg_class c "
            "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r','p','v','m','f','S') "
            "AND pg_get_userbyid(c.relowner) = %s AND NOT EXISTS (SELECT 1 FROM pg_depend d "
            "WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('e','a','i')) "
            "ORDER BY c.relkind <> 'r', c.relname",
            (SUPERUSER,),
        ).fetchall():
            what = {"S": "SEQUENCE", "v": "VIEW", "m": "MATERIALIZED VIEW", "f": "FOREIGN TABLE"}
            c.execute(
                sql.SQL("ALTER {} public.{} OWNER TO {}").format(
                    sql.SQL(what.get(kind, "TABLE")), sql.Identifier(relname), sql.Identifier(OWNER)
                )
            )
            moved.append(relname)
        for kind, rows in (
            (
                "FUNCTION",
                "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE "
                "p.pronamespace = 'public'::regnamespace AND pg_get_userbyid(p.proowner) = %s AND "
                "p.prokind = 'f' AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = "
                "'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')",
            ),
            (
                "TYPE",
                "SELECT t.oid::regtype::text FROM pg_type t WHERE t.typnamespace = "
                "'public'::regnamespace AND pg_get_userbyid(t.typowner) = %s AND t.typtype IN "
                "('e','d','c') AND t.typrelid = 0 AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE "
                "d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')",
            ),
        ):
            for (obj,) in c.execute(rows, (SUPERUSER,)).fetchall():
                c.execute(
                    sql.SQL("ALTER {} {} OWNER TO {}").format(
                        sql.SQL(kind), sql.SQL(obj), sql.Identifier(OWNER)
                    )
                )
                moved.append(obj)
        if moved:
            log(f"{len(moved)} objects handed to {OWNER} (were {SUPERUSER}'s)")

    def _check_durable(self, name: str, port: int, timeout: float = 10.0) -> None:
        """A new connection of the application role commits with synchronous_commit on (the
        reload of :meth:`_ensure_durable` reaches new backends within moments)."""
        deadline = time.monotonic() + timeout
        while True:
            with psycopg.connect(self._libpq(name, port, role="app"), connect_timeout=5) as c:
                value = c.execute("SHOW synchronous_commit").fetchone()[0]  # type: ignore[index]
            if value.lower() not in _OFF:
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
