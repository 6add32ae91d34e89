"""The demo web app in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by Selenium) against a real server (uvicorn, in a thread) over an
artifact built from the fixture data. ``.ci/run`` installs Chromium, so these always run in
CI; without it they are skipped with the command that installs it."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from api.app import create_app
from pipelines.build import BuildOptions, build
from recsys.search.encoder import HashingEncoder
from recsys.service import Engine
from tests.api.conftest import make_settings
from tests.personalization_data import FIXTURE_DATA, small_config, write_ratings

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium")
if not (CHROMIUM and DRIVER):
    pytest.skip(
        "the browser tests need Chromium: apt-get install -y chromium chromium-driver",
        allow_module_level=True,
    )
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

pytestmark = pytest.mark.slow
WAIT_S = 20


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = tmp_path_factory.mktemp("web")
    shutil.copytree(FIXTURE_DATA, base / "data")
    write_ratings(base / "data")
    options = BuildOptions(progress=False, config=small_config())
    directory = build(base / "data", base / "artifacts", options, encoder=HashingEncoder())
    settings = make_settings(events_db=base / "events.sqlite3", experiments_path=None)
    app = create_app(settings, lambda _s: Engine.load(directory, encoder=HashingEncoder()))
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    uvi = uvicorn.Server(config)
    thread = threading.Thread(target=uvi.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not uvi.started and time.monotonic() < deadline:
        time.sleep(0.05)
    state = app.state.engine_state
    assert state.wait(timeout=60) and state.status == "ready", state.reason
    yield f"http://127.0.0.1:{port}"
    uvi.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument("--window-size=1280,900")
    driver = webdriver.Chrome(service=webdriver.ChromeService(DRIVER), options=options)
    yield driver
    driver.quit()


def wait_for(driver: Any, condition: Any) -> Any:
    return WebDriverWait(driver, WAIT_S).until(condition)


def titles(driver: Any, where: str) -> list[str]:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, f"{where} .card .title")]


def open_home(driver: Any, server: str, user: str = "") -> None:
    driver.get(server + "/")
    driver.execute_script(
        "localStorage.clear(); localStorage.setItem('recsys-user', arguments[0]);", user
    )
    driver.get(server + "/")
    wait_for(driver, lambda d: titles(d, "[data-row=trending]"))


def test_typing_a_query_shows_the_right_title(browser: Any, server: str) -> None:
    open_home(browser, server)
    browser.find_element(By.ID, "q").send_keys("twelve monkies")  # typo, debounced
    wait_for(browser, lambda d: titles(d, "#results"))
    assert titles(browser, "#results")[0] == "Twelve Monkeys"
    assert not browser.find_element(By.ID, "rows").is_displayed()


def test_switching_language_shows_the_localized_title(browser: Any, server: str) -> None:
    open_home(browser, server)
    browser.find_element(By.ID, "q").send_keys("city of lost children")
    wait_for(browser, lambda d: titles(d, "#results")[:1] == ["The City of Lost Children"])
    Select(browser.find_element(By.ID, "lang")).select_by_value("fr")
    wait_for(
        browser, lambda d: titles(d, "#results")[:1] not in ([], ["The City of Lost Children"])
    )
    first = browser.find_element(By.CSS_SELECTOR, "#results .card .title")
    assert first.get_attribute("lang") == "fr" and "enfants" in first.text.lower()
    assert browser.execute_script("return document.documentElement.lang") == "fr"


def test_picking_a_user_shows_personalized_rows(browser: Any, server: str) -> None:
    open_home(browser, server)
    assert browser.find_elements(By.CSS_SELECTOR, "[data-row=picks-hint]")  # a new viewer
    Select(browser.find_element(By.ID, "user")).select_by_value("1")
    wait_for(browser, lambda d: titles(d, "[data-row=picks]"))
    reasons = browser.find_element(By.CSS_SELECTOR, "[data-row=picks]").text
    assert "because you watched" in reasons or "matches your taste" in reasons, reasons
    assert "ranker lightgbm" in browser.find_element(By.ID, "arm").text


def test_playing_a_card_changes_the_rows(browser: Any, server: str) -> None:
    open_home(browser, server, user="browser-new-viewer")
    card = browser.find_element(By.CSS_SELECTOR, "[data-row=trending] .card")
    played = card.find_element(By.CSS_SELECTOR, ".title").text
    card.click()  # a click event, then the title page
    wait_for(browser, lambda d: d.find_element(By.ID, "detail").is_displayed())
    assert browser.find_element(By.ID, "detail-title").text == played
    assert titles(browser, "#detail [data-row=similar]")  # "More like this"
    browser.find_element(By.ID, "play").click()  # a play event: the user is not cold any more
    wait_for(browser, lambda d: titles(d, "[data-row=picks]"))
    assert played not in titles(browser, "[data-row=picks]")
    assert "Playing" in browser.find_element(By.ID, "status").text


def test_keyboard_and_phone_width(browser: Any, server: str) -> None:
    browser.set_window_size(390, 844)
    open_home(browser, server)
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= 390  # nothing wider than the phone
    labels = browser.execute_script(
        "return [...document.querySelectorAll('select, input')].every(e => e.labels.length > 0)"
    )
    assert labels
    card = browser.find_element(By.CSS_SELECTOR, "[data-row=trending] .card")
    assert card.tag_name == "button"  # reachable and activated with the keyboard
