"""Finding the PostgreSQL server programs (``initdb``, ``pg_ctl``), and the install command to
name when they are missing."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from geo.errors import SetupError

__all__ = ["find_pg_bindir", "install_hint"]

_SEARCH = (
    "/usr/lib/postgresql/*/bin",
    "/usr/pgsql-*/bin",
    "/usr/local/pgsql/bin",
    "/opt/homebrew/opt/postgresql*/bin",
    "/usr/local/opt/postgresql*/bin",
)


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
        + install_hint("postgresql postgresql-15-postgis-3")
        + " — 或设置 (or set) WANGGE_DATABASE_URL"
    )


def install_hint(packages: str) -> str:
    if shutil.which("apt-get"):
        return f"sudo apt-get update && sudo apt-get install -y {packages}"
    if shutil.which("brew"):
        return "brew install postgresql postgis"
    if shutil.which("dnf"):
        return "sudo dnf install -y postgresql-server postgis"
    return f"install {packages} with your platform's package manager"
