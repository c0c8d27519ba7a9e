"""End to end in a real headless Chromium against a live Daphne server (HTTP + websockets),
with the real Redis channel layer between processes."""

import json
import shutil
import tempfile
import urllib.request

import pytest
from channels.testing import ChannelsLiveServerTestCase
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import override_settings
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from monitoring.ingest import ingest
from monitoring.models import Alert, Membership, ServiceToken, Team, Workflow
from monitoring.schemas import validate_records

from daphne_server import DaphneServer, database_url
from tests.celery_pools import close_broker_connections

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER), reason="needs Debian's chromium and chromium-driver (make test installs them)"
)


def new_browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                 "--disable-dev-shm-usage", f"--user-data-dir={tempfile.mkdtemp()}", "--window-size=1300,900"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


class BrowserTestCase(ChannelsLiveServerTestCase):
    """A live Daphne server, signed-in browsers and a service token; no tests of its own."""

    host = "localhost"
    serve_static = True

    @classmethod
    def setUpClass(cls):
        close_broker_connections()  # before the live server forks (tests/celery_pools.py)
        super().setUpClass()
        cls.browsers = []

    @classmethod
    def tearDownClass(cls):
        for b in cls.browsers:
            b.quit()
        super().tearDownClass()

    def setUp(self):
        self.team = Team.objects.create(slug="acme", name="Acme")
        self.token = ServiceToken.issue(self.team, "e2e")[1]

    def user(self, username, role):
        user = get_user_model().objects.create_user(username, password="a-long-test-password-1")
        Membership.objects.create(team=self.team, user=user, role=role)
        return user

    def signed_in(self, username):
        browser = new_browser()
        self.browsers.append(browser)
        browser.get(self.live_server_url + "/login/")
        browser.find_element(By.NAME, "username").send_keys(username)
        browser.find_element(By.NAME, "password").send_keys("a-long-test-password-1")
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        WebDriverWait(browser, 10).until(EC.presence_of_element_located((By.ID, "overview")))
        return browser

    def open_live(self, browser, path):
        browser.get(self.live_server_url + path)
        # The page's socket is open once body[data-live] says so.
        WebDriverWait(browser, 10).until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-live") == "on")

    def post(self, kind, body):
        request = urllib.request.Request(
            f"{self.live_server_url}/api/workflows/monitoring?type={kind}", data=json.dumps(body).encode(),
            method="POST", headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
            return json.load(response)["data"]

class LiveLogTest:
    def test_log_posted_through_the_api_appears_on_the_open_workflow_page(self):
        self.user("mia", "member")
        self.post("log", {"workflow_id": "wf-001", "execution_id": "exec-1", "log_level": "info", "message": "first"})
        workflow = Workflow.objects.get(external_id="wf-001")
        browser = self.signed_in("mia")
        self.open_live(browser, f"/workflows/{workflow.pk}/")
        self.post("log", {"workflow_id": "wf-001", "execution_id": "exec-1", "log_level": "warn",
                          "message": "appears without a reload", "node_name": "Data Processor", "step_number": 2})
        WebDriverWait(browser, 1.0, poll_frequency=0.05).until(
            EC.text_to_be_present_in_element((By.ID, "live-log"), "appears without a reload"))
        # The live status panel follows too: the current step is the new log's node.
        WebDriverWait(browser, 3).until(EC.text_to_be_present_in_element((By.ID, "live-status"), "Data Processor"))


class BrowserTests(LiveLogTest, BrowserTestCase):
    """With the Redis channel layer, as in production."""

    def test_acknowledging_in_one_browser_updates_another(self):
        self.user("mia", "member")
        self.user("max", "member")
        alert = self.post("alert", {"workflow_id": "wf-001", "alert_type": "error", "severity": "critical",
                                    "title": "Orders are failing"})
        first, second = self.signed_in("mia"), self.signed_in("max")
        for b in (first, second):
            self.open_live(b, "/alerts/")
            assert b.find_element(By.ID, "nav-unacknowledged").text == "1"
        first.find_element(By.CSS_SELECTOR, f'[data-alert-id="{alert["id"]}"] button[data-action="acknowledge"]').click()
        selector = f'[data-alert-id="{alert["id"]}"] [data-field="acknowledged"]'
        WebDriverWait(second, 3).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, selector), "Acknowledged by mia"))
        WebDriverWait(second, 3).until(EC.text_to_be_present_in_element((By.ID, "nav-unacknowledged"), "0"))
        assert Alert.objects.get(pk=alert["id"]).acknowledged_by == "mia"

    def test_viewer_cannot_acknowledge(self):
        self.user("vic", "viewer")
        result = ingest(self.team, {"alert": validate_records(
            "alert", [{"workflow_id": "wf-001", "alert_type": "error", "severity": "warning", "title": "Slow"}])[0]})
        alert = result.created["alert"][0]
        browser = self.signed_in("vic")
        browser.get(self.live_server_url + "/alerts/")
        item = browser.find_element(By.CSS_SELECTOR, f'[data-alert-id="{alert.pk}"]')
        assert "Slow" in item.text
        assert item.find_elements(By.CSS_SELECTOR, "button") == []
        # Trying anyway, with the page's own CSRF token, is refused.
        status = browser.execute_script(
            """const token = document.cookie.split('; ').find(c => c.startsWith('csrftoken=')).split('=')[1];
               const r = new XMLHttpRequest(); r.open('POST', arguments[0], false);
               r.setRequestHeader('X-CSRFToken', token); r.send(); return r.status;""",
            f"/alerts/{alert.pk}/acknowledge/",
        )
        assert status == 403
        assert Alert.objects.get(pk=alert.pk).acknowledged is False


@override_settings(CHANNEL_LAYERS={"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}})
class BrowserWithoutRedisTests(LiveLogTest, BrowserTestCase):
    """The `make run` default: no Redis, the in-memory channel layer of the one web process.
    Events start in that process because the data arrives over HTTP, and still reach the browser."""


# --- The connection state: a page that loses its socket says so and comes back by itself. ---------
# These run their own Daphne process (tests/daphne_server.py), which can be stopped, started again on
# the same port, or frozen, with the Redis channel layer.

@pytest.fixture
def daphne(transactional_db):
    servers = []

    def start(**kwargs):
        server = DaphneServer(env={"DATABASE_URL": database_url(connection.settings_dict)}, **kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def browser():
    b = new_browser()
    yield b
    b.quit()


def open_workflow_page(browser, server):
    """Sign in as mia (a member of acme) and open the page of wf-001, which has one log."""
    team = Team.objects.create(slug="acme", name="Acme")
    user = get_user_model().objects.create_user("mia", password="a-long-test-password-1")
    Membership.objects.create(team=team, user=user, role="member")
    write_log(team, "first")
    base = f"http://localhost:{server.port}"
    browser.get(base + "/login/")
    browser.find_element(By.NAME, "username").send_keys("mia")
    browser.find_element(By.NAME, "password").send_keys("a-long-test-password-1")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 10).until(EC.presence_of_element_located((By.ID, "overview")))
    browser.get(f"{base}/workflows/{Workflow.objects.get(external_id='wf-001').pk}/")
    wait_for_state(browser, "on", "live")
    return team


def write_log(team, message):
    """A log stored without going through the web server (as a Celery task or another web process
    would write it)."""
    ingest(team, {"log": validate_records("log", [{"workflow_id": "wf-001", "execution_id": "exec-1",
                                                   "log_level": "info", "message": message}])[0]})


def post_log(server, team, message):
    token = ServiceToken.issue(team, "e2e")[1]
    request = urllib.request.Request(
        f"{server.url}/api/workflows/monitoring?type=log", method="POST",
        data=json.dumps({"workflow_id": "wf-001", "execution_id": "exec-1", "log_level": "warn", "message": message}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201


def wait_for_state(browser, state, label, timeout=10):
    """body[data-live] is the state; the header shows it to the user in words."""
    WebDriverWait(browser, timeout, poll_frequency=0.05).until(
        lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-live") == state)
    indicator = browser.find_element(By.ID, "live-state")
    assert indicator.is_displayed() and label in indicator.text


def test_page_shows_reconnecting_and_reconnects_when_the_server_restarts(daphne, browser):
    server = daphne()
    team = open_workflow_page(browser, server)
    server.stop()
    wait_for_state(browser, "reconnecting", "reconnecting")
    write_log(team, "written while the page was cut off")
    server.start()  # the same port, as after a deploy or a crash
    wait_for_state(browser, "on", "live", timeout=20)
    # What happened meanwhile is fetched once the page is back...
    WebDriverWait(browser, 5).until(
        EC.text_to_be_present_in_element((By.ID, "live-log"), "written while the page was cut off"))
    # ...and events flow again.
    post_log(server, team, "after the restart")
    WebDriverWait(browser, 3).until(EC.text_to_be_present_in_element((By.ID, "live-log"), "after the restart"))


def test_page_notices_a_connection_that_went_silent(daphne, browser):
    """A hung server or a path that dropped the connection without closing it: the browser sees
    an open socket that says nothing. The heartbeats stop, so the page reconnects."""
    server = daphne(live_constants={"HEARTBEAT_SECONDS": 1})
    team = open_workflow_page(browser, server)
    server.freeze()
    try:
        wait_for_state(browser, "reconnecting", "reconnecting", timeout=15)  # 2 heartbeats + 5 s
    finally:
        server.thaw()
    wait_for_state(browser, "on", "live", timeout=20)
    post_log(server, team, "after the silence")
    WebDriverWait(browser, 3).until(EC.text_to_be_present_in_element((By.ID, "live-log"), "after the silence"))
