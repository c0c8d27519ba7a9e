"""Who made a change, for the audit trail (django-auditlog). The admin is covered by auditlog's
middleware; API requests authenticate later, inside DRF, so API views set the actor here —
the user, or for a service token, the token's name and prefix in the entry's additional data."""

import contextlib

from auditlog.context import set_extra_data


def audit_context(principal, request):
    data = {"remote_addr": request.META.get("REMOTE_ADDR")}
    if principal.token is not None:
        data["additional_data"] = {"token": principal.token.name, "token_prefix": principal.token.prefix,
                                   "team": principal.token.team.slug}
        data["actor"] = None
    else:
        data["actor"] = principal.user
    return set_extra_data(data)


class AuditedAPIMixin:
    """Sets self.principal and the audit actor for the rest of the request."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        from ..access import principal_from_request

        self.principal = principal_from_request(request)
        self._audit_stack = contextlib.ExitStack()
        self._audit_stack.enter_context(audit_context(self.principal, request))

    def finalize_response(self, request, response, *args, **kwargs):
        stack = getattr(self, "_audit_stack", None)
        if stack is not None:
            stack.close()
        return super().finalize_response(request, response, *args, **kwargs)
