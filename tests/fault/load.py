"""HTTP clients for the fault tests and the load check: threads that post logs with unique
messages and read them back through a real server, recording every answer, and the checks every
answer under /api/ must pass whatever goes wrong behind the server."""

import itertools
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import requests
import websocket

MONITORING = "/api/workflows/monitoring"
READS = ("/api/v1/logs/", f"{MONITORING}?type=logs")


@dataclass
class Outcome:
    """One request and what came back (status None: no answer at all, see `error`)."""

    method: str
    path: str
    status: int | None = None
    headers: dict = field(default_factory=dict)  # requests' case-insensitive headers once answered
    text: str = ""
    error: str = ""
    message: str | None = None  # the unique message of a posted log
    started: float = 0.0
    seconds: float = 0.0

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def refused(self) -> bool:
        """Answered with an error: whatever was posted must not be stored."""
        return self.status is not None and self.status >= 400

    def json(self):
        return json.loads(self.text)

    def __str__(self):
        got = self.status if self.status is not None else f"no answer ({self.error})"
        return f"{self.method} {self.path} -> {got} {self.text[:300]!r}"


class Recorder:
    """Every outcome from every client thread, in order of completion."""

    def __init__(self):
        self.outcomes = []
        self._lock = threading.Lock()

    def add(self, outcome):
        with self._lock:
            self.outcomes.append(outcome)

    def statuses(self) -> Counter:
        return Counter(o.status if o.status is not None else "no answer" for o in self.outcomes)

    def server_errors(self):
        return [o for o in self.outcomes if o.status is not None and o.status >= 500]

    def posts(self):
        return [o for o in self.outcomes if o.message is not None]

    def between(self, start, end):
        return [o for o in self.outcomes if start <= o.started and o.started + o.seconds <= end]


class Client:
    """One keep-alive HTTP session carrying a service token, as a service posting data would."""

    def __init__(self, base_url, token, recorder, timeout=30):
        self.base_url = base_url
        self.recorder = recorder
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method, path, message=None, **kwargs) -> Outcome:
        outcome = Outcome(method, path, message=message, started=time.monotonic())
        try:
            r = self.session.request(method, self.base_url + path, timeout=self.timeout, **kwargs)
            outcome.status, outcome.headers, outcome.text = r.status_code, r.headers, r.text  # case-insensitive
        except requests.RequestException as exc:
            outcome.error = f"{type(exc).__name__}: {exc}"
            # A broken keep-alive connection must not poison the next request.
            self.session.close()
        outcome.seconds = time.monotonic() - outcome.started
        self.recorder.add(outcome)
        return outcome

    def post_log(self, message, v1=False) -> Outcome:
        """Post one log whose message is unique, on the monitoring endpoint or /api/v1/logs/."""
        body = {"workflow_id": "wf-fault", "execution_id": f"ex-{message.rsplit('-', 1)[0]}",
                "log_level": "info", "message": message}
        path = "/api/v1/logs/" if v1 else f"{MONITORING}?type=log"
        return self.request("POST", path, message=message, json=body)

    def read(self, n) -> Outcome:
        return self.request("GET", READS[n % len(READS)])


def api_contract_problems(outcome) -> list[str]:
    """What is wrong with an answer under /api/, whatever happened behind the server: it is
    JSON (never an HTML page, never a traceback) and names its request id; a 503 says when to
    retry; every error is {"success": false, "error": ...} on the monitoring endpoint."""
    if outcome.status is None:
        return [f"no answer: {outcome}"]
    problems = []
    content_type = outcome.headers.get("Content-Type", "")
    if outcome.status != 204 and not content_type.startswith("application/json"):
        problems.append(f"not JSON ({content_type or 'no Content-Type'}): {outcome}")
    if "Traceback" in outcome.text or "<html" in outcome.text.lower():
        problems.append(f"traceback or HTML in the answer: {outcome}")
    if not outcome.headers.get("X-Request-ID"):
        problems.append(f"no X-Request-ID header: {outcome}")
    if outcome.status >= 500:
        try:
            body = outcome.json()
        except ValueError:
            body = None
        if not (isinstance(body, dict) and body.get("success") is False and body.get("error")
                and body.get("request_id")):
            problems.append(f'5xx without {{"success": false, "error", "request_id"}}: {outcome}')
    if outcome.status == 503 and not outcome.headers.get("Retry-After"):
        problems.append(f"503 without Retry-After: {outcome}")
    return problems


def wait_until(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def run_threads(count, target, stop):
    """Start `count` threads running target(index, stop); returns them (join with join_all)."""
    threads = [threading.Thread(target=target, args=(i, stop), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    return threads


def join_all(threads, timeout=60):
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    return [t for t in threads if t.is_alive()]


def posting_loop(base_url, token, recorder, prefix, pause=0.0, read_every=0):
    """A client thread's body: post logs with unique messages (prefix-thread-n), alternating the
    monitoring endpoint and /api/v1/logs/, reading every `read_every` posts, until stopped."""

    def loop(index, stop):
        client = Client(base_url, token, recorder)
        for n in itertools.count():
            if stop.is_set():
                return
            client.post_log(f"{prefix}-{index}-{n}", v1=bool(n % 2))
            if read_every and n % read_every == 0:
                client.read(n // read_every)
            if pause:
                time.sleep(pause)

    return loop


def sign_in(base_url, username, password) -> requests.Session:
    """Sign in through the login page as a person would; the session carries the cookie.
    (Over plain HTTP this needs SESSION_COOKIE_SECURE / CSRF_COOKIE_SECURE off.)"""
    session = requests.Session()
    page = session.get(base_url + "/login/", timeout=10)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert csrf, f"no CSRF token on the login page: {page.status_code} {page.text[:300]!r}"
    answer = session.post(base_url + "/login/", timeout=10, allow_redirects=False, headers={"Referer": base_url + "/login/"},
                          data={"username": username, "password": password, "csrfmiddlewaretoken": csrf.group(1)})
    assert answer.status_code == 302 and "sessionid" in session.cookies, f"sign-in failed: {answer.status_code}"
    return session


def open_live_socket(base_url, session, path="/ws/monitoring/"):
    """The websocket the web UI opens for live updates, signed in with the session's cookie."""
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    return websocket.create_connection("ws" + base_url.removeprefix("http") + path, timeout=10, cookie=cookie,
                                       origin=base_url)


def live_messages_until(sock, wanted, seconds):
    """Read live events until one carries a log whose message is `wanted`; True if it came."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            event = json.loads(sock.recv())
        except (websocket.WebSocketTimeoutException, websocket.WebSocketConnectionClosedException, OSError):
            return False
        if event.get("type") == "log" and event.get("data", {}).get("message") == wanted:
            return True
    return False


class Checks:
    """Expectations checked together, so one run of a slow fault test reports every broken
    expectation, not only the first: check(condition, message) ... check.done()."""

    def __init__(self):
        self.failures = []

    def __call__(self, condition, message):
        if not condition:
            self.failures.append(message() if callable(message) else message)
        return bool(condition)

    def done(self):
        assert not self.failures, "\n".join(f"- {f}" for f in self.failures)
