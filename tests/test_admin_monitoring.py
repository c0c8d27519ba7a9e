"""Django admin's Monitoring section: the Grafana dashboards embedded and Prometheus / Alertmanager
linked, for super admins only — staff who are not (team admins signing in to admin) get no link
and a 403, people who are not staff are sent to the admin sign-in."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

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
