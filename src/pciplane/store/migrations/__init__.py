"""Alembic migrations of the pciplane database, packaged with the wheel."""
