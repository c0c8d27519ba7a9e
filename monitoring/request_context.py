"""What is known about the request being served, for code far from the view: its request id (in
logs, JSON errors and audit entries) and who is acting (for the audit trail).

Kept in one ContextVar that RequestContextMiddleware sets and resets around each request, so
nothing leaks into the next request served by the same thread, whatever the request's outcome.
Views that authenticate later (the REST API, inside DRF) fill in the actor with `set_actor`.
"""

import re
import uuid
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

# A request id from a proxy in front is kept if it looks like one; anything else is replaced.
_INCOMING_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


@dataclass
class RequestContext:
    request_id: str
    remote_addr: str | None = None
    request: object = None  # the HttpRequest, for its (lazily loaded) signed-in user
    token: object = None  # a ServiceToken acting, set by the REST API
    user: object = None  # a user acting, set by the REST API
    extra: dict = field(default_factory=dict)

    def actor(self):
        """The user to record as the actor: set by the API, else the request's signed-in user."""
        if self.token is not None:
            return None
        if self.user is not None:
            return self.user
        user = getattr(self.request, "user", None)
        return user if user is not None and user.is_authenticated else None


_current: ContextVar[RequestContext | None] = ContextVar("flowtower_request", default=None)


def new_request_id(incoming: str | None = None) -> str:
    if incoming and _INCOMING_ID.match(incoming):
        return incoming
    return uuid.uuid4().hex


@contextmanager
def request_scope(context: RequestContext):
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def current() -> RequestContext | None:
    return _current.get()


def current_request_id() -> str | None:
    context = _current.get()
    return context.request_id if context is not None else None


def set_actor(principal):
    """The REST API authenticates inside the view: record who acts for the rest of the request."""
    context = _current.get()
    if context is None:
        return
    context.token, context.user = principal.token, principal.user
