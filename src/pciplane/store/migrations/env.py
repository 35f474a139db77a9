"""Alembic environment: run on the connection :func:`pciplane.store.db.upgrade` passes."""

from __future__ import annotations

from alembic import context

from pciplane.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - the service always passes one
    raise RuntimeError("pciplane migrations run through `pciplane db upgrade`")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
