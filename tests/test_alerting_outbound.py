"""Outbound calls to user-supplied URLs (alerts.outbound): with FLOWTOWER_ALLOW_PRIVATE_OUTBOUND off,
a team admin cannot make the server call loopback, private, link-local or metadata addresses,
directly, through a host name, or through a redirect; with it on (a local install, these tests),
local receivers are reached. Either way only a bounded text excerpt of the answer comes back, and
errors name the host, never the URL (webhook URLs carry their secret)."""

import time

import pytest
from django.test import override_settings
from pytest_httpserver import HTTPServer
from werkzeug import Response

from alerts import outbound
from alerts.outbound import OutboundError, OutboundRefused

PRIVATE_OFF = override_settings(FLOWTOWER_ALLOW_PRIVATE_OUTBOUND=False, FLOWTOWER_OUTBOUND_ALLOWED_NETWORKS=[])


def only_allowing(*networks):
    return override_settings(FLOWTOWER_ALLOW_PRIVATE_OUTBOUND=False, FLOWTOWER_OUTBOUND_ALLOWED_NETWORKS=list(networks))


@pytest.fixture
def second_loopback_server():
    """A receiver on 127.0.0.2: an address the tests can allow on its own (FLOWTOWER_OUTBOUND_ALLOWED_NETWORKS)
    while 127.0.0.1 stays refused, standing in for a public host."""
    server = HTTPServer(host="127.0.0.2", port=0)
    server.start()
    yield server
    server.clear()
    server.stop()


@PRIVATE_OFF
@pytest.mark.parametrize("url, where", [
    ("http://127.0.0.1:8000/hook", "127.0.0.1 is a loopback"),
    ("http://10.1.2.3/hook", "10.1.2.3 is a loopback, private"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a"),
    ("http://[::1]:8000/hook", "::1 is a"),
    ("https://[fd00:ec2::254]/latest/", "fd00:ec2::254 is a"),
    ("http://100.64.0.1/hook", "100.64.0.1 is a"),  # carrier-grade NAT
])
def test_internal_addresses_are_refused(url, where):
    with pytest.raises(OutboundRefused) as refused:
        outbound.request("POST", url, json={"x": 1})
    assert where in str(refused.value)
    assert "FLOWTOWER_ALLOW_PRIVATE_OUTBOUND" in str(refused.value)
    assert not refused.value.retryable


@PRIVATE_OFF
def test_a_host_name_resolving_to_loopback_is_refused_and_the_receiver_never_called(httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    url = httpserver.url_for("/hook/T000/SECRET-PART")
    assert url.startswith("http://localhost:")
    with pytest.raises(OutboundRefused) as refused:
        outbound.request("POST", url, json={})
    assert "localhost resolves to" in str(refused.value)
    assert "SECRET-PART" not in str(refused.value)
    assert httpserver.log == []


def test_a_redirect_to_loopback_is_refused(httpserver, second_loopback_server):
    """The first host is allowed; its 302 to 127.0.0.1 goes through the same filter and is refused."""
    httpserver.expect_request("/internal").respond_with_data("internal data")
    target = f"http://127.0.0.1:{httpserver.port}/internal"
    second_loopback_server.expect_request("/hook").respond_with_data("", status=302, headers={"Location": target})
    with only_allowing("127.0.0.2/32"):
        with pytest.raises(OutboundRefused) as refused:
            outbound.request("GET", f"http://127.0.0.2:{second_loopback_server.port}/hook")
    assert "127.0.0.1 is a loopback" in str(refused.value)
    assert len(second_loopback_server.log) == 1
    assert httpserver.log == []


def test_allowed_networks_let_their_addresses_through_and_nothing_else(second_loopback_server):
    second_loopback_server.expect_request("/hook").respond_with_data("fine")
    url = f"http://127.0.0.2:{second_loopback_server.port}/hook"
    with only_allowing("127.0.0.2/32"):
        assert outbound.request("POST", url, json={}).status_code == 200
        with pytest.raises(OutboundRefused):
            outbound.request("POST", f"http://127.0.0.3:{second_loopback_server.port}/hook", json={})
    # The metadata service stays refused even inside an allowed network.
    with only_allowing("169.254.0.0/16"):
        with pytest.raises(OutboundRefused):
            outbound.request("GET", "http://169.254.169.254/latest/meta-data/")


@override_settings(FLOWTOWER_ALLOW_PRIVATE_OUTBOUND=True)
def test_with_private_outbound_allowed_the_local_receiver_is_reached(httpserver):
    httpserver.expect_request("/hook", method="POST", json={"hello": "world"}).respond_with_data(
        '{"ok": true}', status=201, content_type="application/json")
    answer = outbound.request("POST", httpserver.url_for("/hook"), json={"hello": "world"})
    assert (answer.status_code, answer.excerpt) == (201, '{"ok": true}')
    httpserver.check_assertions()


@override_settings(FLOWTOWER_ALLOW_PRIVATE_OUTBOUND=True)
@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "file:///etc/passwd", "gopher://127.0.0.1/", "not a url"])
def test_only_http_and_https_are_called_even_when_private_is_allowed(url):
    with pytest.raises(OutboundRefused):
        outbound.request("GET", url)


@override_settings(FLOWTOWER_ALLOW_PRIVATE_OUTBOUND=True)
def test_a_redirect_to_another_scheme_is_refused(httpserver):
    httpserver.expect_request("/hook").respond_with_data("", status=302, headers={"Location": "file:///etc/passwd"})
    with pytest.raises(OutboundRefused):
        outbound.request("GET", httpserver.url_for("/hook"))


@override_settings(FLOWTOWER_ALLOW_PRIVATE_OUTBOUND=True)
def test_only_a_bounded_text_excerpt_of_the_answer_comes_back(httpserver):
    httpserver.expect_request("/long").respond_with_data("x" * 100_000 + "END", status=400, content_type="text/plain")
    httpserver.expect_request("/binary").respond_with_data(b"\x89PNG" + b"\0" * 5000, content_type="image/png")
    httpserver.expect_request("/controls").respond_with_data("bad\x1b[31m\x00input", content_type="text/plain")
    long = outbound.request("POST", httpserver.url_for("/long"), json={})
    assert long.status_code == 400 and long.excerpt == "x" * 500
    assert outbound.request("GET", httpserver.url_for("/binary")).excerpt == ""
    assert outbound.request("GET", httpserver.url_for("/controls")).excerpt == "bad [31m input"


@override_settings(FLOWTOWER_ALLOW_PRIVATE_OUTBOUND=True, FLOWTOWER_DELIVERY_TIMEOUT=0.3)
def test_a_receiver_slower_than_the_timeout_is_a_retryable_error(httpserver):
    def slow(request):
        time.sleep(1)
        return Response("late")

    httpserver.expect_request("/slow/SECRET-PART").respond_with_handler(slow)
    started = time.monotonic()
    with pytest.raises(OutboundError) as failed:
        outbound.request("POST", httpserver.url_for("/slow/SECRET-PART"), json={})
    assert time.monotonic() - started < 0.9
    assert failed.value.retryable and "timed out" in str(failed.value)
    assert "SECRET-PART" not in str(failed.value)


@override_settings(FLOWTOWER_ALLOW_PRIVATE_OUTBOUND=True)
def test_retry_after_is_read_from_the_answer(httpserver):
    httpserver.expect_request("/busy").respond_with_data("slow down", status=429, headers={"Retry-After": "120"})
    assert outbound.request("POST", httpserver.url_for("/busy"), json={}).retry_after == 120
