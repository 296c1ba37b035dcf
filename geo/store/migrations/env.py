"""Alembic environment: the engine comes from ``geo.store.db`` (or ``-x url=…`` on the command line),
as the schema's owner (``admin_database_url``), never the application role."""

from __future__ import annotations

from alembic import context
from geoalchemy2 import alembic_helpers

from geo.store.db import admin_database_url, include_object, make_engine
from geo.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        url = context.get_x_argument(as_dictionary=True).get("url") or admin_database_url()
        engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            include_object=include_object,
            process_revision_directives=alembic_helpers.writer,
            render_item=alembic_helpers.render_item,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
