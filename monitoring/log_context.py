"""What each log record says about the request or Celery task it was written for.

ContextFilter (installed on the console handler by settings.LOGGING) copies, from the request
context of monitoring.request_context, the request id, the acting user, team and service token
(the token's name and prefix, never the token), and the workflow / execution ids the code has
bound; and in a Celery task, the task's name and id. Fields that are not known are left out, so a
line carries only what is true for it.

Celery tasks get a context of their own from the task_prerun / task_postrun signals (connected in
config/celery.py), so a task's lines carry task and task_id, and the request id of the request
that sent the task when there was one (sent along as the flowtower_request_id header)."""

import logging
import logging.config

from . import request_context

REQUEST_ID_HEADER = "flowtower_request_id"


def _user_name(context):
    """The signed-in user, only if already loaded: a log line must never query the database (it
    may be the line saying the database is down)."""
    user = context.user
    if user is None and context.request is not None:
        user = getattr(context.request, "_cached_user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user.get_username()


def fields(context) -> dict:
    """The log fields known from a request context."""
    out = {"request_id": context.request_id}
    token = context.token
    if token is not None:
        out["token"] = f"{token.name} ({token.prefix}…)"
        team = token._state.fields_cache.get("team")  # loaded with the token by the API's authentication
        out["team"] = team.slug if team is not None else token.team_id
    else:
        username = _user_name(context)
        if username:
            out["user"] = username
    out.update({k: v for k, v in context.extra.items() if v is not None})
    return out


def configure(config):
    """settings.LOGGING_CONFIG, and what Celery's worker and beat apply too (config/celery.py):
    LOGGING, plus Python warnings as log records (py.warnings), so they come out as JSON lines
    like everything else instead of raw text on stderr (Django no longer captures them)."""
    logging.captureWarnings(True)
    logging.config.dictConfig(config)


class ContextFilter(logging.Filter):
    """Adds the request's or task's fields to every record (never drops one)."""

    def filter(self, record):
        context = request_context.current()
        if context is None and getattr(getattr(record, "request", None), "request_id", None):
            # Django logs a 4xx/5xx answer ("django.request") after the middleware has reset the
            # context (under ASGI): the record carries the request, which carries its id.
            context = request_context.RequestContext(request_id=record.request.request_id, request=record.request)
        if context is not None:
            try:
                for name, value in fields(context).items():
                    if not hasattr(record, name) or getattr(record, name) is None:
                        setattr(record, name, value)
            except Exception:  # noqa: BLE001 - a log line is written even if its context is odd
                pass
        return True


def bind(**values):
    """Name what the current request or task is about, e.g. bind(workflow_id=…, execution_id=…):
    its later log lines carry them. Nothing happens outside a request or task."""
    context = request_context.current()
    if context is not None:
        context.extra.update(values)


def bind_object(obj):
    """A REST view's object (a workflow, an execution, a log, error, metric or alert): its
    workflow and execution ids as the API shows them, from what is loaded already — a log line
    costs no query."""
    from .models import Execution, Workflow

    def cached(instance, name):
        return instance._state.fields_cache.get(name) if instance is not None else None

    if isinstance(obj, Workflow):
        workflow, execution = obj, None
    elif isinstance(obj, Execution):
        workflow, execution = cached(obj, "workflow"), obj
    else:
        execution = cached(obj, "execution")
        workflow = cached(obj, "workflow") or cached(execution, "workflow")
    values = {}
    if workflow is not None:
        values["workflow_id"] = workflow.external_id
        team = cached(workflow, "team")
        if team is not None:
            values["team"] = team.slug
    if execution is not None:
        values["execution_id"] = execution.external_id
    bind(**values)


# --- Celery -----------------------------------------------------------------------------------------
_task_tokens = {}


def on_before_task_publish(headers=None, **kwargs):
    """The sending request's id travels with the task, so its lines can be found together."""
    request_id = request_context.current_request_id()
    if headers is not None and request_id and REQUEST_ID_HEADER not in headers:
        headers[REQUEST_ID_HEADER] = request_id


def on_task_prerun(task_id=None, task=None, **kwargs):
    # The sending request's id (a header from a worker's message, or the request itself for a task
    # run eagerly inside it), else the task's own id.
    request_id = getattr(task.request, REQUEST_ID_HEADER, None) if task is not None else None
    context = request_context.RequestContext(
        request_id=request_id or request_context.current_request_id() or task_id,
        extra={"task": getattr(task, "name", None), "task_id": task_id},
    )
    _task_tokens[task_id] = request_context._current.set(context)


def on_task_postrun(task_id=None, **kwargs):
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        try:
            request_context._current.reset(token)
        except ValueError:  # set in another context (e.g. an eager task inside a request)
            request_context._current.set(None)
