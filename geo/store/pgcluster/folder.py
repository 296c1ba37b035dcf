"""The cluster's folder: where its data, state and log live, the passwords and port kept in
``cluster.json``, the URLs of its roles, and commands run as the OS user that owns it
(relocated under ``/var/lib/wangge/`` when that user cannot reach the configured path)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import quote

from geo.errors import SetupError
from geo.settings import Settings, get_settings
from geo.store.pgcluster.roles import PASSWORD_KEYS, ROLES

__all__ = ["ClusterFolder"]


class ClusterFolder:
    """The folder of a private PostgreSQL cluster in ``root`` (default: setting ``pg_dir``):
    its paths, its state in ``cluster.json`` (passwords, port), its URLs, and the commands run
    as the OS user that owns it."""

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
        key = PASSWORD_KEYS.get(user)
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

    def _libpq(self, database: str, port: int | None = None, *, role: str = "superuser") -> str:
        """libpq URL (psycopg), as the superuser unless told otherwise: for this module."""
        url = self.url(database, port, role=role)
        return url.replace("postgresql+psycopg://", "postgresql://")
