"""A headless Chromium, driven by selenium, watching racker's dashboard during a bootstrap.

Run inside the rack's management namespace, where the listener is on loopback:
`racker-sim exec NAME -- python -m tests.e2e.dashboard_browser watch URL SCREENSHOT` during the
bootstrap, then `... node URL` against `racker serve`. Prints one JSON object with what the
browser saw; the test asserts on it.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from typing import Any

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

WAIT_LISTENER = 120.0
WAIT_PROVISIONED = 300.0


def browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,900"):
        options.add_argument(arg)
    return webdriver.Chrome(options=options,
                            service=webdriver.ChromeService("/usr/bin/chromedriver"))


def states(driver: webdriver.Chrome) -> dict[str, str]:
    rows = driver.find_elements(By.CSS_SELECTOR, "#nodes tbody tr")
    return {r.get_attribute("data-mac") or "": r.find_element(
        By.CSS_SELECTOR, '[data-field="stage"]').text for r in rows}


def open_rack_page(driver: webdriver.Chrome, url: str) -> None:
    """Load the rack page once the listener answers (bounded polling: the bootstrap starts it
    after configuring), with the browser already up."""
    deadline = time.monotonic() + WAIT_LISTENER
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)
    driver.get(url)


def watch(url: str, screenshot: str) -> dict[str, Any]:
    """Open the rack page once and follow it until every node is provisioned."""
    out: dict[str, Any] = {}
    driver = browser()
    try:
        open_rack_page(driver, url)
        driver.execute_script("window.__sameDocument = true;")  # gone if the page reloads
        out["first"] = states(driver)
        print("loaded", flush=True)  # the test lets the nodes go on now
        seen: dict[str, set[str]] = {mac: {s} for mac, s in out["first"].items()}

        def all_provisioned(d: webdriver.Chrome) -> bool:
            now = states(d)
            for mac, s in now.items():
                seen.setdefault(mac, set()).add(s)
            return bool(now) and all(s == "provisioned" for s in now.values())

        started = time.monotonic()
        WebDriverWait(driver, WAIT_PROVISIONED, poll_frequency=0.1).until(all_provisioned)
        out["seconds_to_provisioned"] = round(time.monotonic() - started, 1)
        out["final"] = states(driver)
        out["protocols"] = {r.get_attribute("data-mac") or "": r.find_element(
            By.CSS_SELECTOR, '[data-field="protocol"]').text
            for r in driver.find_elements(By.CSS_SELECTOR, "#nodes tbody tr")}
        out["seen"] = {mac: sorted(s) for mac, s in seen.items()}
        out["same_document"] = driver.execute_script("return window.__sameDocument === true;")
        out["live"] = driver.execute_script("return document.body.dataset.live === '1';")
        out["summary"] = driver.find_element(By.ID, "summary").text
        WebDriverWait(driver, 10).until(  # the run's end comes right after the last node
            lambda d: d.find_element(By.ID, "run-outcome").text != "running")
        out["run_outcome"] = driver.find_element(By.ID, "run-outcome").text
        out["stage_counts"] = [e.text for e in driver.find_elements(By.CSS_SELECTOR,
                                                                     ".stage .count")]
        driver.save_screenshot(screenshot)
    except Exception:
        print(f"seen so far: {out}\nat {driver.current_url}:\n{driver.page_source[-4000:]}",
              file=sys.stderr)
        raise
    finally:
        driver.quit()
    return out


def node_page(url: str) -> dict[str, Any]:
    """A node's page, its reprovision confirmation, and a login with a wrong token."""
    out: dict[str, Any] = {}
    driver = browser()
    try:
        open_rack_page(driver, url)
        first = driver.find_element(By.CSS_SELECTOR, "#nodes tbody tr td a")
        out["node_name"] = first.text
        first.click()
        WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.ID, "timeline"))
        out["timeline"] = [li.text for li in driver.find_elements(By.CSS_SELECTOR,
                                                                   "#timeline li")]
        out["node_title"] = driver.find_element(By.TAG_NAME, "h1").text
        out["node_protocol"] = driver.find_element(By.ID, "protocol").text
        node_url = driver.current_url
        driver.find_element(By.ID, "diagnose").click()  # the BMC asked now
        WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.ID, "diagnosis-ok"))
        out["diagnosis"] = driver.find_element(By.ID, "diagnosis-ok").text
        out["diagnosis_text"] = driver.find_element(By.ID, "diagnosis-text").text
        driver.get(node_url)
        WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.ID, "timeline"))
        driver.find_element(By.LINK_TEXT, "reprovision").click()
        # NOTE: a click returns before the next page is there: wait for it, never read the old
        WebDriverWait(driver, 10).until(lambda d: "/actions/reprovision" in d.current_url)
        out["confirm"] = driver.find_element(By.TAG_NAME, "h1").text
        out["confirm_needs_login"] = bool(driver.find_elements(By.CSS_SELECTOR,
                                                               "main a[href^='/login']"))
        driver.get(url.rstrip("/") + "/login")
        driver.find_element(By.NAME, "token").send_keys("not-the-token")
        driver.find_element(By.CSS_SELECTOR, "main form button").click()
        WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.ID, "error"))
        out["wrong_token"] = driver.find_element(By.ID, "error").text
        out["wrong_token_title"] = driver.title
    except Exception:
        print(f"at {driver.current_url}:\n{driver.page_source[-4000:]}", file=sys.stderr)
        raise
    finally:
        driver.quit()
    return out


def main() -> int:
    """`watch URL SCREENSHOT` or `node URL`."""
    mode, url = sys.argv[1], sys.argv[2]
    result = watch(url, sys.argv[3]) if mode == "watch" else node_page(url)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
