"""Request-wide middleware: a request id and the audit context for every request."""

from auditlog.cid import correlation_id
from axes.helpers import get_client_ip_address

from . import request_context

REQUEST_ID_HEADER = "X-Request-ID"


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
                response = self.get_response(request)
        finally:
            correlation_id.reset(cid_token)
        response[REQUEST_ID_HEADER] = request_id
        return response
