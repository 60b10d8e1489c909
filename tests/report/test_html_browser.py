"""The HTML report and survey return in headless Chromium (Debian's chromium + chromedriver, driven by Selenium;
nothing downloaded): no console errors, the counts shown are the inventory's and the survey's, sorting, filtering
and expanding work, no request leaves the file, and a hostile device string runs nothing.

Screenshots go to the test's tmp folder, and also to $CAMSCAN_SCREENSHOTS when that names a folder.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scanner import survey as survey_mod
from scanner.inventory.merge import ip_key
from scanner.inventory.records import Inventory
from scanner.match.load import SURVEILLANCE_CATEGORIES, load_database
from scanner.report.html import database_names, render_inventory, render_survey
from tests.report.survey_sample import HOSTILE_CLOSE, HOSTILE_SCRIPT, sample_inventory, sample_survey
from tests.report.test_html import check_survey_numbers

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

if not CHROMEDRIVER.exists() or not CHROMIUM.exists():
    pytest.skip(f"headless Chromium tests need Debian's chromium ({CHROMIUM}) and chromium-driver ({CHROMEDRIVER}); "
                "apt-get install chromium chromium-driver", allow_module_level=True)

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

DB = load_database()
CONCERN_NAMES, MAKER_NAMES = database_names(DB)


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--disable-extensions", "--window-size=1400,1000",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    # an explicit chromedriver path: Selenium Manager never runs, nothing is downloaded
    d = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    d.set_page_load_timeout(30)
    try:
        yield d
    finally:
        d.quit()


class Loaded:
    """A page loaded from a file, with the console entries and the request URLs its load produced."""

    def __init__(self, driver: Any, path: Path) -> None:
        driver.get_log("browser")          # drop what earlier pages left
        driver.get_log("performance")
        self.driver, self.path, self.url = driver, path, path.resolve().as_uri()
        driver.get(self.url)
        WebDriverWait(driver, 10).until(lambda d: d.execute_script("return document.readyState") == "complete")
        self.console = driver.get_log("browser")
        self.requests = requested_urls(driver.get_log("performance"))

    def rows(self, table: str) -> list[Any]:
        return self.driver.find_elements(By.CSS_SELECTOR, f"#{table} > tbody.device")

    def visible_ips(self, table: str) -> list[str]:
        return [b.get_attribute("data-ip") for b in self.rows(table) if b.is_displayed()]

    def counts(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.driver.execute_script(
            "var o = {}; document.querySelectorAll('[data-count]').forEach(function (n) {"
            " o[n.getAttribute('data-count')] = n.textContent; }); return o;").items()}

    def screenshot(self, name: str, tmp: Path) -> Path:
        """A full-page screenshot to tmp (and to $CAMSCAN_SCREENSHOTS if set)."""
        height = int(self.driver.execute_script("return document.documentElement.scrollHeight"))
        self.driver.set_window_size(1400, min(max(height + 40, 800), 12000))
        out = tmp / name
        assert self.driver.save_screenshot(str(out)) and out.stat().st_size > 10_000
        self.driver.set_window_size(1400, 1000)
        folder = os.environ.get("CAMSCAN_SCREENSHOTS")
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(out, Path(folder) / name)
        return out


def requested_urls(perf: list[dict[str, Any]]) -> list[str]:
    """Every URL the page asked for (requests, redirects, web sockets), from the DevTools performance log."""
    urls = []
    for entry in perf:
        msg = json.loads(entry["message"])["message"]
        params = msg.get("params", {})
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(params["request"]["url"])
        elif msg.get("method") in ("Network.webSocketCreated", "Network.webTransportCreated"):
            urls.append(params["url"])
    return urls


def assert_self_contained(page: Loaded) -> None:
    """The page loaded cleanly: no console error, and no request but the file itself (or data:/about:)."""
    severe = [e for e in page.console if e["level"] == "SEVERE"]
    assert severe == [], severe
    assert page.url in page.requests          # the log did record the load, so an empty check means something
    stray = [u for u in page.requests if u != page.url and not u.startswith(("data:", "about:"))]
    assert stray == [], stray
    pwned = page.driver.execute_script("return typeof window.__pwned")
    assert pwned == "undefined"
    assert page.driver.find_elements(By.TAG_NAME, "img") == []


# --- the inventory report --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def inv() -> Inventory:
    return sample_inventory()


@pytest.fixture
def report(driver: Any, inv: Inventory, tmp_path: Path) -> Loaded:
    path = tmp_path / "report.html"
    path.write_text(render_inventory(inv, concern_names=CONCERN_NAMES, maker_names=MAKER_NAMES), encoding="utf-8")
    return Loaded(driver, path)


def test_the_request_log_would_show_a_stray_request(driver: Any, tmp_path: Path) -> None:
    # the check below is only worth something if a page that does fetch something is caught
    (tmp_path / "leak.png").write_bytes(b"")
    page = tmp_path / "leaky.html"
    page.write_text('<!DOCTYPE html><title>x</title><img src="leak.png">', encoding="utf-8")
    loaded = Loaded(driver, page)
    assert (tmp_path / "leak.png").resolve().as_uri() in loaded.requests


def test_report_loads_clean_and_asks_for_nothing_outside_the_file(report: Loaded, tmp_path: Path) -> None:
    assert_self_contained(report)
    assert report.driver.execute_script("return document.querySelectorAll('script').length") == 2
    assert report.driver.title == "camscan inventory: HQ <Central>"
    report.screenshot("report.png", tmp_path)


def test_report_counts_shown_are_the_inventorys(report: Loaded, inv: Inventory) -> None:
    surv = [d for d in inv.devices if d.category in SURVEILLANCE_CATEGORIES]
    shown = report.counts()
    assert shown["surveillance"] == len(surv)
    assert shown["makers"] == len({d.vendor for d in surv if d.vendor})
    assert shown["concern"] == sum(1 for d in surv if d.concerns)
    assert shown["advisories"] == sum(1 for d in inv.devices if d.advisories)
    assert shown["unknown"] == sum(1 for d in inv.devices if d.category == "unknown")
    assert shown["other"] == sum(1 for d in inv.devices if d.category == "other")
    assert shown["devices"] == len(inv.devices) and shown["errors"] == len(inv.scan.errors)
    bars = report.driver.execute_script(
        "var o = {}; document.querySelectorAll('#chart g.bar').forEach(function (g) {"
        " var n = 0; g.querySelectorAll('rect').forEach(function (r) { n += Number(r.getAttribute('data-n')); });"
        " o[g.getAttribute('data-maker')] = [n, g.getBoundingClientRect().width > 0]; }); return o;")
    assert bars == {"hikvision": [sum(1 for d in surv if d.vendor == "hikvision"), True],
                    "dahua": [sum(1 for d in surv if d.vendor == "dahua"), True]}
    assert report.driver.find_element(By.ID, "devices-shown").text == f"{len(inv.devices)} of {len(inv.devices)} shown"


def test_report_sorts_by_a_column_and_back(report: Loaded, inv: Inventory) -> None:
    by_ip = sorted((d.ip for d in inv.devices), key=ip_key)
    assert report.visible_ips("devices") == [d.ip for d in inv.devices] != by_ip   # not in address order yet
    head = report.driver.find_element(By.CSS_SELECTOR, '#devices button.sort[data-key="ip"]')
    head.click()
    assert report.visible_ips("devices") == by_ip             # numeric, not text: .9 before .10, .99 before 1.9
    assert head.find_element(By.XPATH, "..").get_attribute("aria-sort") == "ascending"
    head.click()
    assert report.visible_ips("devices") == by_ip[::-1]
    report.driver.find_element(By.CSS_SELECTOR, '#devices button.sort[data-key="confidence"]').click()
    shown = report.visible_ips("devices")
    conf = {d.ip: d.confidence for d in inv.devices}
    assert [conf[ip] for ip in shown] == sorted(conf[ip] for ip in shown)
    report.driver.find_element(By.CSS_SELECTOR, '#devices button.sort[data-key="maker"]').click()
    makers = [report.driver.find_element(By.CSS_SELECTOR, f'#devices tbody[data-ip="{ip}"] td.maker').text
              for ip in report.visible_ips("devices")]
    named = [m for m in makers if m != "?"]
    assert named == sorted(named) and makers[len(named):] == ["?"] * (len(makers) - len(named))   # blanks last


def test_report_filters_by_text_and_category(report: Loaded, inv: Inventory) -> None:
    box = report.driver.find_element(By.ID, "devices-text")
    box.send_keys("DH-NVR4108")
    assert report.visible_ips("devices") == ["198.18.0.20"]
    assert report.driver.find_element(By.ID, "devices-shown").text == f"1 of {len(inv.devices)} shown"
    box.clear()
    box.send_keys("lts")      # the brand's name or slug finds the rebranded camera
    assert report.visible_ips("devices") == ["198.18.0.10"]
    box.clear()
    box.send_keys(" ")        # clear() sends no input event; a blank query is no filter
    assert len(report.visible_ips("devices")) == len(inv.devices)
    cat = Select(report.driver.find_element(By.ID, "devices-category"))
    cat.select_by_value("other")
    assert report.visible_ips("devices") == [d.ip for d in inv.devices if d.category == "other"]
    cat.select_by_value("*surveillance")
    assert report.visible_ips("devices") == [d.ip for d in inv.devices if d.category in SURVEILLANCE_CATEGORIES]
    box.send_keys("external")
    assert report.visible_ips("devices") == [d.ip for d in inv.devices
                                             if d.category in SURVEILLANCE_CATEGORIES and d.survey == "external"]


def test_report_expands_a_device_to_its_evidence(report: Loaded, inv: Inventory) -> None:
    lts = next(d for d in inv.devices if d.brand == "lts")
    body = report.driver.find_element(By.CSS_SELECTOR, f'#devices tbody[data-ip="{lts.ip}"]')
    panel = body.find_element(By.CSS_SELECTOR, "tr.evidence")
    assert not panel.is_displayed()                           # folded until asked for
    button = body.find_element(By.CSS_SELECTOR, "button.expand")
    button.click()
    assert panel.is_displayed() and button.get_attribute("aria-expanded") == "true"
    text = panel.text
    assert "Sold under the brand LTS; made by Hikvision" in text
    for ev in lts.evidence:
        assert ev.rule_id in text
    assert "UK Biometrics and Surveillance Camera Commissioner" in text     # the list that flagged it, by name
    others = [p for p in report.driver.find_elements(By.CSS_SELECTOR, "#devices tr.evidence") if p.is_displayed()]
    assert others == [panel]
    button.click()
    assert not panel.is_displayed()


def test_report_hostile_strings_are_text_and_run_nothing(report: Loaded) -> None:
    body = report.driver.find_element(By.CSS_SELECTOR, '#devices tbody[data-ip="198.18.0.66"]')
    cells = [td.text for td in body.find_elements(By.CSS_SELECTOR, "tr.row td")]
    assert HOSTILE_CLOSE in cells
    body.find_element(By.CSS_SELECTOR, "button.expand").click()
    panel = body.find_element(By.CSS_SELECTOR, "tr.evidence").text
    assert HOSTILE_SCRIPT in panel and HOSTILE_CLOSE in panel
    # the attribute payload is a brand: hovering it must not run its handler
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(report.driver).move_to_element(body.find_elements(By.CSS_SELECTOR, "tr.row td")[3]).perform()
    assert report.driver.execute_script("return typeof window.__pwned") == "undefined"
    assert [e for e in report.driver.get_log("browser") if e["level"] == "SEVERE"] == []


# --- the survey return -----------------------------------------------------------------------------

def load_survey(driver: Any, doc: dict[str, Any], tmp_path: Path) -> Loaded:
    path = tmp_path / "survey.html"
    path.write_text(render_survey(doc), encoding="utf-8")
    return Loaded(driver, path)


def test_survey_loads_clean_shows_the_returns_numbers_and_marks_overrides(driver: Any, tmp_path: Path) -> None:
    doc = sample_survey()
    page = load_survey(driver, doc, tmp_path)
    assert_self_contained(page)
    shown = page.counts()
    assert shown == {k: int(v) for k, v in check_survey_numbers(doc, Path(page.path).read_text()).items()}
    for cat, c in doc["categories"].items():
        assert shown[f"categories.{cat}.total"] == c["total"]
    daggers = [m for m in driver.find_elements(By.CSS_SELECTOR, "#cat-drones .overridden .dagger")]
    assert daggers and all(m.is_displayed() and m.text == "†" for m in daggers)
    assert driver.find_elements(By.CSS_SELECTOR, "#cat-external .overridden") == []
    note = driver.find_element(By.CSS_SELECTOR, "#cat-drones .override-note")
    assert note.is_displayed() and "PC 1234 Smith" in note.text


def test_survey_devices_sort_and_filter(driver: Any, tmp_path: Path) -> None:
    doc = sample_survey()
    page = load_survey(driver, doc, tmp_path)
    everyone = [d["ip"] or "" for d in doc["devices"]]
    assert page.visible_ips("survey-devices") == everyone
    driver.find_element(By.CSS_SELECTOR, '#survey-devices button.sort[data-key="ip"]').click()
    with_ip = sorted((ip for ip in everyone if ip), key=ip_key)
    assert page.visible_ips("survey-devices") == [*with_ip, ""]      # the added drone has no address: last
    Select(driver.find_element(By.ID, "survey-devices-category")).select_by_value("anpr")
    assert page.visible_ips("survey-devices") == ["198.18.2.40", "198.18.2.41"]
    driver.find_element(By.ID, "survey-devices-text").send_keys("depot")
    assert page.visible_ips("survey-devices") == ["198.18.2.40", "198.18.2.41"]
    Select(driver.find_element(By.ID, "survey-devices-category")).select_by_value("")
    assert page.visible_ips("survey-devices") == sorted(
        (d["ip"] for d in doc["devices"] if d["site"] == "Depot"), key=ip_key)
    assert page.driver.execute_script("return typeof window.__pwned") == "undefined"


def test_a_real_survey_return_renders_with_its_numbers(driver: Any, tmp_path: Path) -> None:
    hq = sample_inventory()
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text(
        "corrections:\n"
        "  - device: {ip: 198.18.0.40}\n    set: {kind: camera, survey: external}\n"
        "    reason: a camera over the yard gate, seen only by its web server\n    by: A. Jones\n"
        "additions:\n"
        "  - site: HQ <Central>\n    kind: drone\n    survey: drones\n    maker: dji\n    count: 2\n"
        "    reason: kept in the equipment store, never networked\n    by: PC 1234 Smith\n", encoding="utf-8")
    doc = survey_mod.build([survey_mod.Source(hq, "scan-1", "test")], DB,
                           overrides=survey_mod.load_overrides(overrides, DB), organisation="Test & Police",
                           generated="2026-12-07T04:00:00+00:00")
    assert doc["categories"]["drones"]["total"] == 2 and "total" in doc["categories"]["drones"]["overridden"]
    page = load_survey(driver, doc, tmp_path)
    assert_self_contained(page)
    shown = page.counts()
    assert shown == check_survey_numbers(doc, Path(page.path).read_text())
    assert shown["categories.external.total"] == doc["categories"]["external"]["total"] == 2
    assert driver.find_elements(By.CSS_SELECTOR, "#cat-drones .overridden .dagger")
    page.screenshot("survey.png", tmp_path)
