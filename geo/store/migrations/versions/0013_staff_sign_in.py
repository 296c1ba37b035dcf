"""staff sign-in: user names unique (duplicates renamed with a suffix), passwords (argon2id
hashes), browser sessions and the sign-in throttle

Existing duplicate names are renamed in id order: the first keeps its name, the next ones get
``-2``, ``-3`` … (a suffix already taken is skipped). Every rename is printed and logged
(logger ``alembic.runtime.migration``).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")
NAME_MAX = 100


def renames(rows: list[tuple[int, str]]) -> list[tuple[int, str, str]]:
    """``(id, old, new)`` for every user whose name an earlier id (or a rename) holds."""
    taken = {name for _, name in rows}
    seen: set[str] = set()
    out = []
    for uid, name in rows:
        if name not in seen:
            seen.add(name)
            continue
        k = 2
        while True:
            suffix = f"-{k}"
            new = name[: NAME_MAX - len(suffix)] + suffix
            if new not in taken:
                break
            k += 1
        taken.add(new)
        seen.add(new)
        out.append((uid, name, new))
    return out


def upgrade() -> None:
    conn = op.get_bind()
    rows = [
        (r[0], r[1]) for r in conn.execute(sa.text("SELECT id, name FROM app_user ORDER BY id"))
    ]
    for uid, old, new in renames(rows):
        conn.execute(sa.text("UPDATE app_user SET name = :n WHERE id = :i"), {"n": new, "i": uid})
        message = f"0013: 重名用户已改名 (duplicate user name renamed) #{uid}: {old!r} → {new!r}"
        print(message)
        log.warning(message)
    op.create_unique_constraint(op.f("uq_app_user_name"), "app_user", ["name"])
    op.add_column("app_user", sa.Column("password_hash", sa.String(200), nullable=True))
    op.add_column(
        "app_user", sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_table(
        "user_session",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "last_seen_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_user_session_user_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_session")),
        sa.UniqueConstraint("id_hash", name=op.f("uq_user_session_id_hash")),
    )
    op.create_index(op.f("ix_user_session_user_id"), "user_session", ["user_id"])
    op.create_table(
        "login_attempt",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempt")),
    )
    op.create_index("ix_login_attempt_address_at", "login_attempt", ["address", "at"])
    op.create_index("ix_login_attempt_name_address_at", "login_attempt", ["name", "address", "at"])


def downgrade() -> None:
    op.drop_table("login_attempt")
    op.drop_table("user_session")
    op.drop_column("app_user", "password_changed_at")
    op.drop_column("app_user", "password_hash")
    op.drop_constraint(op.f("uq_app_user_name"), "app_user", type_="unique")
