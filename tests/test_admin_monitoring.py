"""Django admin's Monitoring section: the Grafana dashboards embedded and Prometheus / Alertmanager
linked, for super admins only — staff who are not (team admins signing in to admin) get no link
and a 403, people who are not staff are sent to the admin sign-in."""

import re
import shutil
import tempfile
import time

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from pytest_httpserver import HTTPServer
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from daphne_server import DaphneServer, database_url
from monitoring.models import Membership

PAGE = "/admin/observability/"  # /admin/monitoring/ is the monitoring app's own admin index
UIDS = ["flowtower-workflows", "flowtower-api", "flowtower-system", "flowtower-logs"]


@pytest.fixture
def urls(settings):
    settings.GRAFANA_URL = "https://ops.example.com/grafana"
    settings.PROMETHEUS_URL = "https://prometheus.example.com"
    settings.ALERTMANAGER_URL = "https://alertmanager.example.com"


def signed_in(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def superuser(make_user):
    return make_user("root", superuser=True)


def test_super_admins_find_the_section_on_the_admin_index(superuser, urls):
    page = signed_in(superuser).get("/admin/").content.decode()
    title = "Grafana dashboards, Prometheus and Alertmanager"
    assert f'<a href="{PAGE}" class="section" title="{title}">Monitoring</a>' in page


def test_the_page_embeds_the_four_dashboards_and_links_prometheus_and_alertmanager(superuser, urls):
    response = signed_in(superuser).get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    frames = re.findall(r'<iframe src="([^"]+)"', html)
    assert frames == [f"https://ops.example.com/grafana/d/{uid}?kiosk" for uid in UIDS]
    assert 'href="https://prometheus.example.com/alerts"' in html
    assert 'href="https://alertmanager.example.com"' in html
    assert "Not configured" not in html
    # Only Grafana's origin may be framed (its path is not part of an origin), and nobody frames this page.
    assert response["Content-Security-Policy"] == "frame-src https://ops.example.com; frame-ancestors 'none'"
    assert response["X-Frame-Options"] == "DENY"


def test_unset_addresses_say_how_to_configure_them(superuser, settings):
    settings.GRAFANA_URL = settings.PROMETHEUS_URL = settings.ALERTMANAGER_URL = ""
    response = signed_in(superuser).get(PAGE)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<iframe" not in html
    assert "GRAFANA_URL" in html and "PROMETHEUS_URL" in html and "ALERTMANAGER_URL" in html
    assert "GF_SECURITY_ALLOW_EMBEDDING" in html
    assert response["Content-Security-Policy"].startswith("frame-src 'none'")


def test_only_grafana_unset_still_links_the_others(superuser, settings):
    settings.GRAFANA_URL = ""
    settings.PROMETHEUS_URL = "https://prometheus.example.com"
    settings.ALERTMANAGER_URL = "https://alertmanager.example.com"
    html = signed_in(superuser).get(PAGE).content.decode()
    assert "<iframe" not in html and "https://prometheus.example.com" in html
    assert "<code>GRAFANA_URL</code>" in html and "<code>PROMETHEUS_URL</code>" not in html


def test_staff_who_are_not_super_admins_see_no_link_and_get_403(make_user, team, urls):
    team_admin = make_user("lead", team=team, role="admin")  # staff, as add_member makes them
    assert team_admin.is_staff and not team_admin.is_superuser
    client = signed_in(team_admin)
    index = client.get("/admin/")
    assert index.status_code == 200
    assert PAGE not in index.content.decode()
    response = client.get(PAGE)
    assert response.status_code == 403
    assert b"ops.example.com" not in response.content


def test_people_who_are_not_staff_are_sent_to_the_admin_sign_in(db, team, urls):
    member = get_user_model().objects.create_user("member", password="pw-not-used-1234")
    Membership.objects.create(team=team, user=member, role="viewer")
    response = signed_in(member).get(PAGE)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    anonymous = Client().get(PAGE)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/admin/login/")


CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture(scope="module")
def committed_superuser(django_db_setup, django_db_blocker):
    """A super admin a live server (another process) can sign in as, committed before the test's
    transaction begins (module scope); removed afterwards."""
    with django_db_blocker.unblock():
        get_user_model().objects.create_superuser("frames", password="a-long-test-password-1")
        yield database_url(connection.settings_dict)
        get_user_model().objects.filter(username="frames").delete()


def wait_for(condition, show, timeout=15):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, show()
        time.sleep(0.1)


def served_page():
    """A web server on 127.0.0.1 answering every path with a small page, logging each request."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.expect_request(re.compile(r"^/.*")).respond_with_data("<!doctype html><p>framed", content_type="text/html")
    server.start()
    return server


@pytest.mark.django_db
@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="needs Debian's chromium and chromium-driver")
def test_a_real_browser_frames_grafana_s_origin_and_nothing_else(committed_superuser):
    """Chromium on a live Daphne: the dashboards load from GRAFANA_URL; a frame of another origin
    added to the page is never even requested (the page's frame-src)."""
    grafana, other = served_page(), served_page()
    env = {"DATABASE_URL": committed_superuser, "GRAFANA_URL": grafana.url_for("/").rstrip("/")}
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 f"--user-data-dir={tempfile.mkdtemp()}", "--window-size=1300,900"):
        options.add_argument(flag)
    browser = None
    try:
        with DaphneServer(env=env) as server:
            browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
            browser.get(server.url + "/admin/login/?next=" + PAGE)
            browser.find_element(By.NAME, "username").send_keys("frames")
            browser.find_element(By.NAME, "password").send_keys("a-long-test-password-1")
            browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
            WebDriverWait(browser, 15).until(lambda b: b.current_url.endswith(PAGE))

            def paths(http):
                return [request.full_path.rstrip("?") for request, _ in http.log]  # werkzeug adds "?" always

            wait_for(lambda: {f"/d/{uid}?kiosk" for uid in UIDS} <= set(paths(grafana)), lambda: paths(grafana))
            for url in (other.url_for("/elsewhere"), grafana.url_for("/d/added")):
                browser.execute_script(
                    "const f = document.createElement('iframe'); f.src = arguments[0]; document.body.appendChild(f);", url)
            wait_for(lambda: "/d/added" in paths(grafana), lambda: paths(grafana))
            time.sleep(1)  # the other frame was added first: had it been allowed, it would be requested by now
            assert paths(other) == []
    finally:
        if browser is not None:
            browser.quit()
        grafana.stop()
        other.stop()
