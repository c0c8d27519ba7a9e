"""Daphne (Twisted) refuses a request line or headers over 16 KB — a URL with thousands of query
parameters — by dropping the connection without a word (request line) or with a bare 400
(headers, and any malformed request). Clients then retry blindly or report "empty reply". Answer both with a JSON error
that names the problem, like every other refusal under /api/. Twisted has no setting for these
answers, so its two refusal methods are replaced here, once, when the ASGI application loads."""

import json

REQUEST_LINE_TOO_LONG = (414, "URI Too Long", "The request line or a header is longer than 16384 bytes: send fewer or shorter query parameters.")
MALFORMED_REQUEST = (400, "Bad Request", "Malformed HTTP request, or headers over 16384 bytes.")


def _raw_json_response(status, reason, message) -> bytes:
    body = json.dumps({"success": False, "error": message}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    return head + body


def install():
    try:
        from twisted.web.http import HTTPChannel
    except ImportError:  # not running under Daphne
        return

    def line_length_exceeded(self, line):
        self.transport.write(_raw_json_response(*REQUEST_LINE_TOO_LONG))
        self.transport.loseConnection()

    def bad_request_and_disconnect(self):
        self.transport.write(_raw_json_response(*MALFORMED_REQUEST))
        self.loseConnection()

    HTTPChannel.lineLengthExceeded = line_length_exceeded
    HTTPChannel._respondToBadRequestAndDisconnect = bad_request_and_disconnect
