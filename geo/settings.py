"""Settings, read from the environment (prefix ``WANGGE_``) or a ``.env`` file.

Every tunable of the platform lives here, not as a literal in the code: the storage and metric
CRS, the database, the local cluster's folder and port, the served area.

>>> from geo.settings import get_settings
>>> get_settings().storage_srid
4490
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "band", "get_settings"]


class Settings(BaseSettings):
    """Wangge settings. Each field ``x`` is read from ``WANGGE_X``."""

    model_config = SettingsConfigDict(env_prefix="WANGGE_", env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of an existing PostGIS database; when set, no local "
        "cluster is started. Example: postgresql+psycopg://user:pw@host:5432/wangge. The API, "
        "the jobs and every command that reads or writes data connect with it: give it a role "
        "that is not a superuser and cannot create objects in the schema.",
    )
    admin_database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the role that owns the schema: migrations (and the "
        "extensions they need) run with it, nothing else. Default: WANGGE_DATABASE_URL (one "
        "role for everything); the local cluster has its own owner role.",
    )
    pg_dir: Path = Field(
        default=Path(".wangge/pg"),
        description="Folder of the project's own PostgreSQL cluster (relative to the "
        "current directory unless absolute).",
    )
    pg_port: int = Field(
        default=0, ge=0, le=65535, description="Port of the local cluster; 0 picks a free one."
    )
    pg_bin: Path | None = Field(
        default=None, description="Folder holding initdb and pg_ctl; found automatically if unset."
    )
    pg_os_user: str = Field(
        default="postgres",
        description="Unprivileged OS user that runs the local cluster when Wangge runs as root "
        "(created if missing).",
    )
    db_name: str = Field(default="wangge", description="Database name in the local cluster.")

    min_households: int = Field(
        default=30,
        ge=1,
        description="Default smallest micro-grid (households) when a partition or plan names "
        "no band. A grid version records the band it was partitioned with.",
    )
    max_households: int = Field(
        default=50,
        ge=1,
        description="Default largest micro-grid (households); at least WANGGE_MIN_HOUSEHOLDS.",
    )

    storage_srid: int = Field(
        default=4490, description="CRS of stored geometries (CGCS2000 geographic)."
    )
    metric_srid: int = Field(
        default=4544,
        description="Projected CRS for areas, distances and buffers (CGCS2000 3-degree "
        "Gauss-Kruger CM 105E, covering Chengdu).",
    )
    served_bounds: tuple[float, float, float, float] = Field(
        default=(73.0, 3.0, 136.0, 54.0),
        description="lon/lat box (min lon, min lat, max lon, max lat) that every stored "
        "coordinate must fall in; a point outside is refused as implausible.",
    )
    parent_tolerance_m: float = Field(
        default=1.0,
        ge=0,
        description="How far (metres) a child geometry may stick out of its parent area "
        "(compound in community, building in compound) before import refuses it.",
    )
    household_tolerance_m: float = Field(
        default=20.0,
        ge=0,
        description="How far (metres) a household's position may lie from its building's "
        "footprint (geocoded addresses are rarely exact).",
    )
    overlap_tolerance_m2: float = Field(
        default=1.0,
        ge=0,
        description="Overlap (square metres) between two compounds or two building footprints "
        "above which import refuses them.",
    )
    locate_tolerance_m: float = Field(
        default=30.0,
        ge=0,
        description="A point in no grid (a gap, or just outside the community) gets the "
        "nearest grid when it lies within this many metres, flagged; beyond it is outside the "
        "served area.",
    )
    basemap: str = Field(
        default="none",
        description="Base map of the web maps: none (the project's own layers on a plain "
        "background; works offline), amap or tencent (GCJ-02 tiles: overlays are shifted to "
        "match), or a tile URL template with {z}/{x}/{y} (add #gcj02 for GCJ-02 tiles).",
    )
    walk_m: float = Field(
        default=1000.0,
        gt=0,
        description="A 15-minute walk, in metres along the network (coverage of facilities).",
    )
    duplicate_distance_m: float = Field(
        default=50.0,
        ge=0,
        description="A new report this close to an open one of the same category ...",
    )
    duplicate_window_h: float = Field(
        default=48.0, ge=0, description="... and this recent is linked as a possible duplicate."
    )
    edge_distance_m: float = Field(
        default=10.0,
        ge=0,
        description="An incident this close to a neighbouring micro-grid gets it as co-owner.",
    )
    api_threads: int = Field(
        default=8,
        ge=1,
        le=200,
        description=(
            "Requests the API works on at once (its worker threads); the others wait their "
            "turn in order. Few threads sharing one interpreter finish sooner than many."
        ),
    )
    warm_connections: int | None = Field(
        default=None,
        ge=0,
        le=200,
        description=(
            "Database connections the API opens and warms before its first request "
            "(default: WANGGE_API_THREADS + 2)."
        ),
    )
    slow_request_s: float = Field(
        default=1.0, gt=0, description="Requests slower than this are logged (warning)."
    )
    report_rate_per_minute: int = Field(
        default=10, ge=1, description="Public incident reports accepted per client per minute."
    )
    report_ceiling_per_minute: int = Field(
        default=600,
        ge=1,
        description="Public incident reports accepted per minute by the whole service, from "
        "all clients together: the backstop when clients rotate their addresses.",
    )
    open311_jurisdiction: str = Field(
        default="wangge.local",
        min_length=1,
        max_length=100,
        description="The one Open311 jurisdiction_id this service answers for (another "
        "value is a 400 naming it).",
    )
    open311_keyless: bool = Field(
        default=True,
        description="Whether Open311 POST requests without an api_key are taken (residents' "
        "apps; the public report limits apply). False: an api_key from `wangge apps add` is "
        "required.",
    )
    open311_app_rate_per_minute: int = Field(
        default=60,
        ge=1,
        description="Open311 reports accepted per registered app (api_key) per minute: each "
        "app its own bucket, apart from the per-address one of keyless clients.",
    )
    trusted_proxies: str = Field(
        default="",
        description="Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto headers are "
        "believed: comma-separated IP addresses or networks (127.0.0.1, 10.0.0.0/8). Default "
        "none: the client is the address that connected.",
    )
    test_clock: datetime | None = Field(
        default=None,
        description="Tests only: the time the service takes as now for incidents (reports, "
        "deadlines, escalation), with its time zone. Unset: the server's clock.",
    )
    incident_deadlines: dict[str, tuple[float, float, float]] = Field(
        default={
            "default": (2.0, 24.0, 72.0),
            "cooking_fumes": (4.0, 48.0, 120.0),
            "elevator": (1.0, 8.0, 24.0),
            "ebike_charging": (1.0, 8.0, 24.0),
            "water_leak": (1.0, 12.0, 48.0),
        },
        description="Hours allowed at each tier (grid, street, department) by category, as "
        'JSON: {"category": [grid_h, street_h, department_h], "default": [...]}',
    )

    token_days: float = Field(
        default=90.0,
        gt=0,
        le=3650,
        description="Days a bearer token from `wangge users add` is valid; counted from its "
        "creation and fixed then (changing this setting does not move existing tokens).",
    )

    session_idle_minutes: float = Field(
        default=30.0,
        gt=0,
        le=24 * 60,
        description="A browser session (sign-in at /login) ends after this many minutes "
        "without a request.",
    )
    session_hours: float = Field(
        default=12.0,
        gt=0,
        le=24 * 30,
        description="A browser session ends this many hours after sign-in, however active.",
    )
    login_failures_per_minute: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="Failed sign-ins accepted per client address per minute; the next tries "
        "from that address get 429 until the minute has passed.",
    )

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    public_url: str | None = Field(
        default=None,
        description="The address clients reach the API at (scheme, host, port and any path "
        "prefix, e.g. https://wangge.example.org/gis), from which OGC and paging links are "
        "built. Unset: the address the server listens on (http://127.0.0.1:8000 for `wangge "
        "serve`), read from its socket. Never taken from the request's Host header.",
    )
    nearby_max_m: float = Field(
        default=5000.0,
        gt=0,
        le=100_000,
        description="Largest radius (metres) `/nearby?within_m=` accepts, and how far a "
        "walking distance is searched along the network (farther: null).",
    )
    notice_sender: str = Field(
        default="log",
        description="How emergency notices reach grid workers: `log` (each message written "
        "to the log and marked sent), or `module:attribute` naming a Sender factory. An "
        "unknown value fails at start-up naming it.",
    )
    max_page_size: int = Field(default=10_000, ge=1, description="Largest `limit` the API takes.")
    max_body_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, description="Largest request body the API takes."
    )

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, v: str | None) -> str | None:
        if v is None or v.strip() == "":
            return None
        from urllib.parse import urlsplit

        parts = urlsplit(v.strip())
        if (
            parts.scheme not in ("http", "https")
            or not parts.netloc
            or parts.query
            or parts.fragment
        ):
            raise ValueError(
                f"WANGGE_PUBLIC_URL 应为 http(s) 地址 (must be an http(s) URL such as "
                f"https://wangge.example.org/gis): {v!r}"
            )
        return v.strip().rstrip("/")

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: str) -> str:
        for item in (v.strip() for v in value.split(",")):
            if not item:
                continue
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"WANGGE_TRUSTED_PROXIES: 不是 IP 地址或网段 (not an IP address or "
                    f"network): {item!r}"
                ) from None
        return value

    @field_validator("notice_sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        value = value.strip()
        if value != "log" and not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", value):
            raise ValueError(
                f"WANGGE_NOTICE_SENDER 未知 (unknown notice sender): {value!r}; 可选 (one of): "
                "log, module:attribute"
            )
        return value

    @field_validator("test_clock")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError(f"WANGGE_TEST_CLOCK 需要时区 (needs a time zone): {value.isoformat()}")
        return value

    @model_validator(mode="after")
    def _band(self) -> Settings:
        if self.min_households > self.max_households:
            raise ValueError(
                f"WANGGE_MIN_HOUSEHOLDS ({self.min_households}) 大于 WANGGE_MAX_HOUSEHOLDS "
                f"({self.max_households}) (the band's minimum is above its maximum)"
            )
        return self

    @property
    def band(self) -> tuple[int, int]:
        """The default size band ``(min, max)`` of a micro-grid, in households."""
        return self.min_households, self.max_households

    @property
    def trusted_proxy_list(self) -> list[str]:
        """``trusted_proxies`` as a list (empty: trust no forwarded header)."""
        return [v.strip() for v in self.trusted_proxies.split(",") if v.strip()]


def band(min_households: int | None = None, max_households: int | None = None) -> tuple[int, int]:
    """The size band to use: the values given, each missing one from the settings
    (``WANGGE_MIN_HOUSEHOLDS`` / ``WANGGE_MAX_HOUSEHOLDS``). The one place a default band
    comes from.

    >>> band(20, 40)
    (20, 40)
    """
    lo, hi = get_settings().band
    lo = lo if min_households is None else int(min_households)
    hi = hi if max_households is None else int(max_households)
    if not 1 <= lo <= hi:
        raise ValueError(f"规模区间无效 (invalid size band): min {lo}, max {hi}")
    return lo, hi


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; call ``get_settings.cache_clear()`` after changing
    the environment)."""
    return Settings()


def public_path() -> str:
    """The path prefix the browser reaches the app under (``WANGGE_PUBLIC_URL``'s path, e.g.
    ``/gis``; empty when served at the root): every link and request a page makes starts
    with it."""
    url = get_settings().public_url
    return urlsplit(url).path.rstrip("/") if url else ""
