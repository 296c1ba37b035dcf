"""Photos of an incident: decoded and re-encoded with Pillow so that no metadata survives
(EXIF with its GPS position, XMP, ICC profiles, comments, PNG text chunks), at most
:data:`MAX_PHOTOS` an incident, stored in PostGIS (``incident_photo``). The reporter (with
its token) or staff in scope add them; only staff in scope see them, and every read is
audited (``incident_photo_read``)."""

from __future__ import annotations

import hashlib
import io
import warnings
from typing import Any

from PIL import Image, ImageOps
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import ConflictError, InputError, NotFoundError, PermissionDenied
from geo.incidents.access import check_reporter_token, require_scope
from geo.incidents.records import load
from geo.incidents.rules import STAFF_ROLES, clock
from geo.runtime.auth import Principal
from geo.store.audit import audit

__all__ = [
    "MAX_PHOTOS",
    "MAX_PHOTO_BYTES",
    "PHOTO_TYPES",
    "add_photo",
    "check_upload",
    "clean_image",
    "photo_numbers",
    "read_photo",
]

MAX_PHOTOS = 3
MAX_PHOTO_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a decompression bomb is refused before it is decoded
PHOTO_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG"}


def clean_image(data: bytes, mime: str) -> tuple[bytes, int, int]:
    """The image re-encoded from its pixels alone (no metadata block of any kind), turned
    upright as its EXIF orientation said, with its width and height; InputError when the bytes are not a decodable image of ``mime``."""
    fmt = PHOTO_TYPES[mime]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=[fmt])
            if img.width * img.height > MAX_PIXELS:
                raise InputError(
                    f"图片像素过多 (image too large): {img.width}×{img.height} > {MAX_PIXELS}"
                )
            img.load()
            # a phone's photo turned as its EXIF orientation says, before the EXIF goes
            upright = ImageOps.exif_transpose(img) or img
            mode = "RGB" if fmt == "JPEG" else ("RGBA" if "A" in upright.getbands() else "RGB")
            pixels = upright.convert(mode)
    except Exception as exc:  # any failure of the decoder is bad input
        if isinstance(exc, InputError):
            raise
        raise InputError(
            f"不是可解码的 {fmt} 图片 (not a decodable {mime} image): {type(exc).__name__}"
        ) from None
    # a new image from the pixels only: no info dict, no exif, no icc, no text chunks
    bare = Image.new(mode, pixels.size)
    bare.paste(pixels)
    out = io.BytesIO()
    if fmt == "JPEG":
        bare.save(out, "JPEG", quality=85, optimize=True)
    else:
        bare.save(out, "PNG", optimize=True)
    return out.getvalue(), bare.width, bare.height


def add_photo(
    session: Session,
    ref: str,
    data: bytes,
    mime: str,
    *,
    principal: Principal,
    reporter_token: str | None,
) -> dict[str, Any]:
    """Store a photo of incident ``ref`` for the reporter (its token) or staff in scope; 409
    past :data:`MAX_PHOTOS`. The answer: its number, size in bytes, width and height."""
    now = clock()
    staff = principal.has_role(*STAFF_ROLES)
    inc = load(session, ref, numeric=staff, now=now)
    actor = _uploader(session, inc, principal, reporter_token)
    clean, width, height = clean_image(data, mime)
    session.execute(text("SELECT 1 FROM incident WHERE id = :i FOR UPDATE"), {"i": inc["id"]})
    have = _room_for_one(session, inc)
    n = max(have, default=0) + 1
    digest = hashlib.sha256(clean).hexdigest()
    session.execute(
        text(
            "INSERT INTO incident_photo (incident_id, n, mime, bytes, width, height, sha256, "
            "created_at) VALUES (:i, :n, :m, :b, :w, :h, :s, :now)"
        ),
        {
            "i": inc["id"],
            "n": n,
            "m": mime,
            "b": clean,
            "w": width,
            "h": height,
            "s": digest,
            "now": now,
        },
    )
    audit(
        session,
        actor,
        "incident_photo_add",
        "incident",
        str(inc["id"]),
        {"n": n, "bytes": len(clean), "sha256": digest},
    )
    return {"photo": n, "bytes": len(clean), "width": width, "height": height}


def check_upload(
    session: Session, ref: str, *, principal: Principal, reporter_token: str | None
) -> None:
    """What :func:`add_photo` checks before the image matters — the incident exists, the
    caller may add to it, it has room for one more — so that an upload is refused before
    its body (up to 5 MB) is read. :func:`add_photo` checks again under the row lock."""
    inc = load(session, ref, numeric=principal.has_role(*STAFF_ROLES), now=clock())
    _uploader(session, inc, principal, reporter_token)
    _room_for_one(session, inc)


def _room_for_one(session: Session, inc: dict[str, Any]) -> list[int]:
    """The incident's photo numbers; 409 when it already has :data:`MAX_PHOTOS`."""
    have = photo_numbers(session, inc["id"])
    if len(have) >= MAX_PHOTOS:
        raise ConflictError(
            f"每个事件最多 {MAX_PHOTOS} 张照片 (at most {MAX_PHOTOS} photos an incident): "
            f"{inc['code']} 已有 (has) {len(have)}"
        )
    return have


def _uploader(
    session: Session, inc: dict[str, Any], principal: Principal, token: str | None
) -> str:
    """Who adds the photo: the reporter (a valid token) or staff in scope; else
    PermissionDenied."""
    if principal.has_role(*STAFF_ROLES):
        require_scope(session, principal, inc)
        return f"{principal.role}:{principal.name}"
    if token is None:
        raise PermissionDenied(
            "需要上报人凭证 X-Reporter-Token 或工作人员登录 (give the reporter token, or sign in "
            "as staff in scope)"
        )
    check_reporter_token(session, inc["id"], token)
    return "reporter"


def photo_numbers(session: Session, iid: int) -> list[int]:
    """The numbers of an incident's photos, in order."""
    return [
        int(n)
        for n in session.execute(
            text("SELECT n FROM incident_photo WHERE incident_id = :i ORDER BY n"), {"i": iid}
        ).scalars()
    ]


def read_photo(session: Session, ref: str, n: int, *, principal: Principal) -> tuple[bytes, str]:
    """Photo ``n`` of incident ``ref`` (bytes, MIME type), for staff in scope only (the
    reading audited); to anyone else — the reporter too — there is no such photo (404)."""
    if not principal.has_role(*STAFF_ROLES):
        raise NotFoundError(f"照片不存在 (no such photo): {ref!r} #{n}")
    inc = load(session, ref, numeric=True, now=clock())
    require_scope(session, principal, inc)
    row = session.execute(
        text("SELECT bytes, mime FROM incident_photo WHERE incident_id = :i AND n = :n"),
        {"i": inc["id"], "n": n},
    ).first()
    if row is None:
        raise NotFoundError(f"照片不存在 (no such photo): {ref!r} #{n}")
    audit(
        session,
        f"{principal.role}:{principal.name}",
        "incident_photo_read",
        "incident_photo",
        f"{inc['id']}/{n}",
        {"code": inc["code"]},
    )
    return bytes(row[0]), str(row[1])
