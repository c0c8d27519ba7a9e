"""On a phone (390 px wide), every page fits the screen, and the alert page that notifications
link to follows its alert live. One real headless Chromium, emulating a phone, against a live
Daphne server (HTTP and websockets, Redis channel layer between processes)."""

import shutil
import tempfile
from datetime import time, timedelta

import pytest
from channels.testing import ChannelsLiveServerTestCase
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from alerts.channels.webhook import generate_signing_secret
from alerts.delivery import set_secrets
from alerts.models import AlertRule, Channel, Delivery, Route, Silence
from monitoring.ingest import ingest
from monitoring.models import AlertSource, Execution, Membership, Team, Workflow
from monitoring.schemas import validate_records
from monitoring.access import Principal
from monitoring.services import raise_alert, update_alert
from n8n_mirror.models import N8nInstance
from tests.celery_pools import close_broker_connections

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER), reason="needs Debian's chromium and chromium-driver (make test installs them)"
)
PHONE_WIDTH = 390
LONG = "a-rather-long-unbroken-identifier-that-would-push-the-page-wider-0123456789"

STICKING_OUT = """return Array.from(document.querySelectorAll('main *, header *'))
  .filter(e => e.getBoundingClientRect().right > arguments[0] + 1).slice(0, 5)
  .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : ''));"""


def phone_browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                 "--disable-dev-shm-usage", f"--user-data-dir={tempfile.mkdtemp()}"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    # A phone: 390 CSS px wide, honouring <meta name="viewport">. A page wider than that widens
    # the layout viewport, which documentation.scrollWidth then shows.
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": PHONE_WIDTH, "height": 844, "deviceScaleFactor": 3, "mobile": True})
    return browser


def record(team, kind, **fields):
    ingest(team, {kind: validate_records(kind, [fields])[0]})


class PhoneTests(ChannelsLiveServerTestCase):
    host = "localhost"
    serve_static = True

    @classmethod
    def setUpClass(cls):
        close_broker_connections()  # before the live server forks (tests/celery_pools.py)
        super().setUpClass()
        cls.browser = phone_browser()

    @classmethod
    def tearDownClass(cls):
        cls.browser.quit()
        super().tearDownClass()

    def setUp(self):
        self.team = Team.objects.create(slug="acme", name="Acme")
        self.admin = get_user_model().objects.create_user("on-call-admin-with-a-long-name", password="unused-pw-123")
        Membership.objects.create(team=self.team, user=self.admin, role="admin")
        self.fill_every_page()
        self.sign_in()

    def sign_in(self):
        # The session of a signed-in admin (who sees every form and button: the widest pages).
        client = Client()
        client.force_login(self.admin)
        self.browser.get(self.live_server_url + "/login/")
        self.browser.delete_all_cookies()
        self.browser.add_cookie({"name": "sessionid", "value": client.cookies["sessionid"].value, "path": "/"})

    def fill_every_page(self):
        """Long names, long messages, labels and secrets everywhere a page could grow wide."""
        wf_id = f"orders-{LONG}"
        for step, level in enumerate(("info", "warn", "error"), 1):
            record(self.team, "log", workflow_id=wf_id, execution_id=f"exec-{LONG}", log_level=level,
                   node_name=f"Node {LONG}", step_number=step, duration=1200 * step,
                   message=f"{level} while talking to https://api.example.com/v1/{LONG}?page={step}",
                   metadata={"url": f"https://api.example.com/{LONG}"})
        record(self.team, "error", workflow_id=wf_id, execution_id=f"exec-{LONG}", severity="high",
               error_type="network", error_message=f"Connection refused by {LONG}", node_name=f"Node {LONG}")
        record(self.team, "performance", workflow_id=wf_id, execution_id=f"exec-{LONG}", total_duration=3600,
               node_count=3, failed_nodes=1, bottleneck_nodes=[f"Node {LONG}"])
        self.workflow = Workflow.objects.get(external_id=wf_id)
        self.workflow.tags = ["billing", LONG]
        self.workflow.save(update_fields=["tags"])
        self.execution = Execution.objects.get()
        self.alert, _ = raise_alert(
            self.team, fingerprint=f"am:{LONG}", alert_type="resource", severity="critical", source=AlertSource.ALERTMANAGER,
            title=f"Disk almost full on {LONG}", description=f"Only 2 % left on /var/lib/{LONG}",
            labels={"alertname": "DiskFull", "instance": f"db-1.{LONG}.internal:9100", "job": "node"})
        hook = Channel.objects.create(team=self.team, name=f"Pager {LONG}", kind="webhook", consecutive_failures=4, enabled=False,
                                      last_failure_at=timezone.now())
        set_secrets(hook, {"url": f"https://hooks.example.com/{LONG}/{LONG}", "signing_secret": generate_signing_secret()})
        Delivery.objects.create(alert=self.alert, channel=hook, event="firing", attempt=3, status="failed",
                                response_code=503, error=f"the receiver answered 503: {LONG} {LONG}")
        self.rule = AlertRule.objects.create(team=self.team, name=f"Orders failing {LONG}", kind="error_rate",
                                             tag=LONG, params={"threshold_percent": 20, "window_minutes": 60,
                                                               "min_executions": 5})
        self.rule.channels.add(hook)
        self.route = Route.objects.create(team=self.team, name=f"Criticals {LONG}", channel=hook,
                                          severities=["critical", "warning"], tags=[LONG], escalation_channel=hook)
        Silence.objects.create(team=self.team, matchers={"workflow": wf_id, "labels": {"instance": LONG}},
                               weekdays=[6, 7], daily_start=time(2), duration_minutes=120, time_zone="America/Argentina/Buenos_Aires",
                               ends_at=timezone.now() + timedelta(days=30), comment=f"Weekend maintenance {LONG}")
        self.n8n = N8nInstance.objects.create(team=self.team, name=f"n8n {LONG}", api_url=f"https://{LONG}.example.com",
                                              last_error=f"HTTP 401 from n8n: {LONG} {LONG}", executions_mirrored=12345)

    def test_every_page_fits_a_phone(self):
        pages = [
            "/", "/?period=7d", "/workflows/", f"/workflows/{self.workflow.pk}/", f"/executions/{self.execution.pk}/",
            "/logs/", "/errors/", "/alerts/", "/alerts/?resolved=", f"/alerts/{self.alert.pk}/",
            "/rules/", "/rules/new/", f"/rules/{self.rule.pk}/",
            "/channels/", "/channels/new/", "/channels/new/?kind=webhook", "/channels/new/?kind=email",
            f"/channels/{self.rule.channels.get().pk}/",
            "/routes/", "/routes/new/", f"/routes/{self.route.pk}/",
            "/silences/", "/silences/new/", f"/silences/new/?alert={self.alert.pk}",
            "/n8n/", "/n8n/new/", f"/n8n/{self.n8n.pk}/",
        ]
        too_wide = {}
        for path in pages:
            self.browser.get(self.live_server_url + path)
            WebDriverWait(self.browser, 5).until(lambda b: b.find_elements(By.CSS_SELECTOR, "main h1"))
            width = self.browser.execute_script("return document.documentElement.scrollWidth")
            if width > PHONE_WIDTH:  # name what sticks out, for whoever has to fix it
                too_wide[path] = (width, self.browser.execute_script(STICKING_OUT, PHONE_WIDTH))
        # Signed out: the sign-in page.
        self.browser.delete_all_cookies()
        self.browser.get(self.live_server_url + "/login/")
        width = self.browser.execute_script("return document.documentElement.scrollWidth")
        if width > PHONE_WIDTH:
            too_wide["/login/"] = width
        assert too_wide == {}
        self.sign_in()
        self.browser.get(self.live_server_url + "/alerts/")
        # The navigation wrapped instead of being cut off: every link can be seen and tapped.
        links = self.browser.find_elements(By.CSS_SELECTOR, "header nav a")
        assert [link.text.split()[0] for link in links] == [
            "Overview", "Workflows", "Logs", "Errors", "Alerts", "Rules", "Channels", "Routes", "Silences", "n8n"]
        for link in links:
            rect = link.rect
            assert link.is_displayed() and rect["x"] >= 0 and rect["x"] + rect["width"] <= PHONE_WIDTH, link.text

    def test_the_alert_page_follows_its_alert_live(self):
        self.browser.get(f"{self.live_server_url}/alerts/{self.alert.pk}/")
        WebDriverWait(self.browser, 10).until(
            lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-live") == "on")
        occurrences = (By.CSS_SELECTOR, '#alert-page [data-field="occurrences"]')
        assert self.browser.find_element(*occurrences).text == "1"
        # Alertmanager reports it again (here straight through the service, as its receiver does).
        raise_alert(self.team, fingerprint=f"am:{LONG}", alert_type="resource", severity="critical",
                    source=AlertSource.ALERTMANAGER, title=f"Disk almost full on {LONG}")
        WebDriverWait(self.browser, 5).until(EC.text_to_be_present_in_element(occurrences, "2"))
        # A colleague acknowledges it elsewhere; this page's marks and buttons follow.
        mia = get_user_model().objects.create_user("mia", password="unused-pw-123")
        Membership.objects.create(team=self.team, user=mia, role="member")
        update_alert(self.alert, Principal(user=mia), acknowledged=True)
        WebDriverWait(self.browser, 5).until(EC.text_to_be_present_in_element(
            (By.CSS_SELECTOR, '#alert-page [data-field="acknowledged"]'), "acknowledged by mia"))
        assert not self.browser.find_elements(By.CSS_SELECTOR, 'button[data-action="acknowledge"]')

    def test_the_alerts_list_shows_new_and_updated_alerts_live(self):
        self.browser.get(f"{self.live_server_url}/alerts/")
        WebDriverWait(self.browser, 10).until(
            lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-live") == "on")
        fresh, _ = raise_alert(self.team, fingerprint="posted-1", alert_type="error", severity="warning",
                               title="Invoices are late", workflow=self.workflow)
        row = (By.CSS_SELECTOR, f'#alerts [data-alert-id="{fresh.pk}"]')
        WebDriverWait(self.browser, 5).until(EC.text_to_be_present_in_element(row, "Invoices are late"))
        assert self.browser.find_element(*row).find_element(By.CSS_SELECTOR, f'a[href="/alerts/{fresh.pk}/"]')
        raise_alert(self.team, fingerprint="posted-1", alert_type="error", severity="warning",
                    title="Invoices are late", workflow=self.workflow)
        WebDriverWait(self.browser, 5).until(EC.text_to_be_present_in_element(
            (By.CSS_SELECTOR, f'#alerts [data-alert-id="{fresh.pk}"] [data-field="occurrences"]'), "×2"))
