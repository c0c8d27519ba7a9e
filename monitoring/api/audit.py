"""The REST API authenticates inside DRF, after the middleware: API views set the request's
principal and tell the audit trail who acts (a user, or a service token — recorded by name and
prefix in the entry's additional data). Nothing here needs cleaning up: the request context is
reset by RequestContextMiddleware however the request ends."""

from .. import request_context


class AuditedAPIMixin:
    """Sets self.principal and the audit actor for the rest of the request."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        from ..access import principal_from_request

        self.principal = principal_from_request(request)
        request_context.set_actor(self.principal)
