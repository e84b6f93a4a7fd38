"""create_app(settings): the Litestar application, wired from its parts."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from litestar import Litestar
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin

from huddle import __version__
from huddle.care.routes import CONTROLLERS as CARE_CONTROLLERS
from huddle.client_address import ClientAddress
from huddle.clock import Clock
from huddle.compliance.routes import CONTROLLERS as COMPLIANCE_CONTROLLERS
from huddle.config import Settings
from huddle.dependencies import DEPENDENCIES
from huddle.health import health, ready
from huddle.http_errors import EXCEPTION_HANDLERS
from huddle.identity.routes import CONTROLLERS as IDENTITY_CONTROLLERS
from huddle.jobs import attachment_sweep, audit_checkpoints, task_deadlines, urgent_escalation
from huddle.messaging.attachment_routes import CONTROLLERS as ATTACHMENT_CONTROLLERS
from huddle.messaging.routes import CONTROLLERS as MESSAGING_CONTROLLERS
from huddle.notify import outbox, senders
from huddle.notify.routes import CONTROLLERS as NOTIFY_CONTROLLERS
from huddle.observability import RequestTracking
from huddle.realtime.routes import browser_realtime, realtime
from huddle.realtime.shared_reads import SharedReads
from huddle.runtime import Runtime
from huddle.tasks.routes import CONTROLLERS as TASK_CONTROLLERS
from huddle.webclient import web_client_router

# JSON bodies are small; attachment uploads set their own limit on their route.
MAX_REQUEST_BODY_BYTES = 1024 * 1024


def create_app(settings: Settings, *, clock: Clock | None = None) -> Litestar:
    """Build the app. Raises SigningKeyError if the signing keys cannot be loaded, and
    ConfigError in production without an SMTP server for notifications."""
    notification_sender = senders.sender_from(settings)
    runtime = Runtime.build(settings, clock)

    background: list[asyncio.Task[None]] = []

    async def start_jobs() -> None:
        await runtime.events.start()
        if not settings.background_jobs:
            return
        if settings.audit_checkpoint_minutes:
            interval = timedelta(minutes=settings.audit_checkpoint_minutes)
            background.append(asyncio.create_task(audit_checkpoints.run_forever(runtime, interval)))
        background.append(asyncio.create_task(outbox.run_forever(runtime, notification_sender)))
        background.append(asyncio.create_task(urgent_escalation.run_forever(runtime)))
        background.append(asyncio.create_task(task_deadlines.run_forever(runtime)))
        background.append(asyncio.create_task(attachment_sweep.run_forever(runtime)))

    async def dispose() -> None:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await runtime.events.stop()
        await runtime.db.dispose()

    app = Litestar(
        route_handlers=[
            health,
            ready,
            *IDENTITY_CONTROLLERS,
            *CARE_CONTROLLERS,
            *MESSAGING_CONTROLLERS,
            *ATTACHMENT_CONTROLLERS,
            *COMPLIANCE_CONTROLLERS,
            *NOTIFY_CONTROLLERS,
            *TASK_CONTROLLERS,
            realtime,
            browser_realtime,
            web_client_router(settings.web_dist_dir),
        ],
        dependencies=DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        on_startup=[start_jobs],
        on_shutdown=[dispose],
        openapi_config=OpenAPIConfig(
            title="Huddle API",
            version=__version__,
            path="/schema",
            render_plugins=[ScalarRenderPlugin()],
        ),
        request_max_body_size=MAX_REQUEST_BODY_BYTES,
        logging_config=None,
        state=State({"runtime": runtime, "reads": SharedReads.build(runtime)}),
    )
    # Outside the router (not route middleware) so 404/405 answers are tracked too.
    app.asgi_handler = RequestTracking(
        ClientAddress(app.asgi_handler, settings.trusted_proxies),
        hsts=settings.public_url.startswith("https://"),
    )
    return app
