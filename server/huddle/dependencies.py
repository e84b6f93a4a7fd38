"""Values every route can ask for: the runtime, where the request came from, and the
signed-in actor (which enforces sessions, idle logoff and mandatory MFA)."""

from __future__ import annotations

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from huddle.actor import Actor, RequestContext
from huddle.errors import Forbidden, Unauthorized
from huddle.identity import browser_session, service
from huddle.runtime import Runtime

# Route option: the handler stays usable while the session still owes MFA enrolment.
DURING_MFA_ENROLMENT = "during_mfa_enrolment"
# "1": the client sent this request by itself (a refetch after a live event), not because
# the person did something, so it must not keep the session from going idle.
PASSIVE_HEADER = "x-huddle-passive"


# Handlers ask for these by parameter name: `rt: Rt`, `context: Context`, `actor: CurrentActor`.
Rt = NamedDependency[Runtime]
Context = NamedDependency[RequestContext]
CurrentActor = NamedDependency[Actor]


def provide_runtime(state: State) -> Runtime:
    return state.runtime


def provide_context(request: Request) -> RequestContext:
    return RequestContext(
        source_ip=request.client.host if request.client else None,
        request_id=request.scope["state"].get("request_id"),
        user_agent=(request.headers.get("user-agent") or "")[:256] or None,
    )


async def provide_actor(request: Request, rt: Rt, context: Context) -> Actor:
    """The authenticated caller, by bearer token or else by browser-session cookie (with
    its CSRF check). Raises Unauthorized without either. Counts as activity unless the
    request is marked passive (PASSIVE_HEADER)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        token = browser_session.access_token_from_cookie(rt, request) or ""
    if not token.strip():
        raise Unauthorized("Sign in first: this needs a bearer token.", code="missing_token")
    passive = request.headers.get(PASSIVE_HEADER) == "1"
    signed_in = await service.authenticate(rt, token.strip(), context, activity=not passive)
    if signed_in.needs_mfa_enrolment and not request.route_handler.opt.get(DURING_MFA_ENROLMENT):
        raise Forbidden(
            "Your organization requires two-step sign-in; set it up first.",
            code="mfa_enrolment_required",
        )
    request.scope["state"]["user_id"] = str(signed_in.actor.user_id)
    return signed_in.actor


DEPENDENCIES = {
    "rt": Provide(provide_runtime, sync_to_thread=False),
    "context": Provide(provide_context, sync_to_thread=False),
    "actor": Provide(provide_actor),
}
