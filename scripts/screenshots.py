"""Screenshots of the main pages for docs/screenshots/, taken in headless Chromium from a running
`make run`:  .venv/bin/python scripts/screenshots.py http://127.0.0.1:8000 member <password>"""

import sys
import tempfile
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
PAGES = [("overview", "/"), ("workflows", "/workflows/"), ("logs", "/logs/"), ("errors", "/errors/"),
         ("alerts", "/alerts/"), ("rules", "/rules/"), ("channels", "/channels/"), ("routes", "/routes/"),
         ("silences", "/silences/")]
PHONE = 390  # the alert page as on-call people open it from a notification


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                 f"--user-data-dir={tempfile.mkdtemp()}", "--window-size=1400,1000"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def main(base, username, password):
    OUT.mkdir(parents=True, exist_ok=True)
    driver = browser()
    try:
        driver.get(base + "/login/")
        driver.find_element(By.NAME, "username").send_keys(username)
        driver.find_element(By.NAME, "password").send_keys(password)
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        pages = list(PAGES)
        driver.get(base + "/workflows/")
        link = driver.find_elements(By.CSS_SELECTOR, "#workflows a")
        if link:
            pages.append(("workflow", link[0].get_attribute("href").replace(base, "")))
        for alerts in ("/alerts/", "/alerts/?resolved="):  # a firing alert, else any
            driver.get(base + alerts)
            link = driver.find_elements(By.CSS_SELECTOR, "#alerts a.alert-link")
            if link:
                break
        if link:
            pages.append(("alert", link[0].get_attribute("href").replace(base, "")))
        for name, path in pages:
            shoot(driver, base + path, name, 1400)
        if link:
            shoot(driver, base + pages[-1][1], "alert-phone", PHONE, mobile=True)
    finally:
        driver.quit()


def shoot(driver, url, name, width, mobile=False):
    """The page at `width` CSS px (as a phone when `mobile`), as tall as it is (up to 2200 px)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": 700, "deviceScaleFactor": 1, "mobile": mobile})
    driver.get(url)
    driver.implicitly_wait(1)
    height = driver.execute_script("return Math.min(document.documentElement.scrollHeight, 2200)")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": max(height, 700), "deviceScaleFactor": 1, "mobile": mobile})
    driver.save_screenshot(str(OUT / f"{name}.png"))
    print("saved", OUT / f"{name}.png")


if __name__ == "__main__":
    main(*sys.argv[1:4])
