"""Request-wide middleware: a request id, the audit context and an access log line for every request."""

import logging
import time

from auditlog.cid import correlation_id
from axes.helpers import get_client_ip_address

from . import request_context

REQUEST_ID_HEADER = "X-Request-ID"

# One line per request (Daphne writes no access log of its own), with the request's context fields
# (monitoring.log_context): request_id, user / team / token, workflow_id / execution_id.
access_logger = logging.getLogger("flowtower.access")
# Probes and scrapes every few seconds would drown the log: their successful answers are DEBUG.
QUIET_PATHS = ("/healthz", "/metrics")


def log_request(request, response, started):
    """At the level of the answer: ERROR for 5xx, WARNING for 4xx (what the logs dashboard shows
    first), INFO otherwise."""
    status = response.status_code
    if status >= 500:
        level = logging.ERROR
    elif status >= 400:
        level = logging.WARNING
    else:
        level = logging.DEBUG if request.path in QUIET_PATHS else logging.INFO
    if not access_logger.isEnabledFor(level):
        return
    duration_ms = round((time.monotonic() - started) * 1000, 1)
    access_logger.log(
        level, "%s %s %s %sms", request.method, request.path, status, duration_ms,
        extra={"method": request.method, "path": request.path, "status": status,
               "duration_ms": duration_ms},
    )


class RequestContextMiddleware:
    """Gives each request an id (kept from a proxy's X-Request-ID when it looks like one), sent
    back as X-Request-ID and put in JSON errors, logs and audit entries; and the context the audit
    trail reads. Set and reset here, around the whole request, so a request that ends in an
    exception leaves nothing behind."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_context.new_request_id(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        context = request_context.RequestContext(
            request_id=request_id, remote_addr=get_client_ip_address(request), request=request
        )
        cid_token = correlation_id.set(request_id)
        try:
            with request_context.request_scope(context):
                started = time.monotonic()
                response = self.get_response(request)
                log_request(request, response, started)
        finally:
            correlation_id.reset(cid_token)
        response[REQUEST_ID_HEADER] = request_id
        return response
