"""Imports every domain's tables, so Base.metadata (and Alembic) sees them all."""

from huddle.identity import models as identity_models
from huddle.protect import models as protect_models

__all__ = ["identity_models", "protect_models"]
