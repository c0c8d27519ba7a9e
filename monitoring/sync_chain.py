"""The innermost middleware, sync only: under ASGI it makes Django run the whole middleware chain
and the view in one thread, with one hop from the event loop and back.

Without it the chain was mixed: WhiteNoise is sync only, the middleware inside it async capable,
so Django ran the outer middleware in a thread, hopped back to the event loop for the inner ones,
and each of those (MiddlewareMixin in async mode) ran its process_request and process_response
through sync_to_async again: about a dozen thread hand-offs per request, each a future, a
condition variable and the GIL passed between threads. Every middleware here is sync capable and
the views are sync (DRF, Django admin), so nothing runs async that could gain from it; websockets
do not pass through this chain."""


class SyncChainMiddleware:
    sync_capable = True
    async_capable = False

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)
