"""Imports every domain's tables, so Base.metadata (and Alembic) sees them all."""

from huddle.identity import models as identity_models

__all__ = ["identity_models"]
