"""Imports every domain's tables, so Base.metadata (and Alembic) sees them all."""

from huddle.care import models as care_models
from huddle.identity import models as identity_models
from huddle.messaging import attachment_models
from huddle.messaging import models as messaging_models
from huddle.notify import models as notify_models
from huddle.protect import models as protect_models
from huddle.tasks import models as task_models

__all__ = [
    "attachment_models",
    "care_models",
    "identity_models",
    "messaging_models",
    "notify_models",
    "protect_models",
    "task_models",
]
