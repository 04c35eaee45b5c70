"""The playground in a real headless Chromium (selenium + Debian's chromium and chromium-driver).

Search a title, add two items, see both models' lists; add a third item and remove one, and see
both lists change each time. A screenshot goes to ``$SEQREC_SCREENSHOT`` (default: pytest's tmp).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from seqrec.data.shop import make_shop_dataset
from seqrec.data.splits import leave_one_out
from seqrec.experiment import build_model
from seqrec.serving.inference import Predictor
from seqrec.serving.server import create_app, running_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
MODELS = ("popularity", "markov")

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver); CI installs them",
)

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    dataset = make_shop_dataset("tiny")
    train, items = leave_one_out(dataset.sequences).train, dataset.item_info()
    predictors = {name: Predictor(build_model(name, {}, 1).fit(train, items=items), items) for name in MODELS}
    with running_server(create_app(predictors), "127.0.0.1", 0) as address:
        yield address


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1440,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def picks(browser: Any, model: str) -> list[str]:
    return [row.get_attribute("data-item") for row in browser.find_elements(By.CSS_SELECTOR, f'.model[data-model="{model}"] .pick')]


def history(browser: Any) -> list[str]:
    return [row.get_attribute("data-item") for row in browser.find_elements(By.CSS_SELECTOR, "#history .history-item")]


def wait_for_answers(browser: Any) -> dict[str, list[str]]:
    """Every column ready for the history now shown; each model's top-10 ids."""
    expected = ",".join(history(browser))

    def ready(driver: Any) -> bool:
        columns = driver.find_elements(By.CSS_SELECTOR, ".model")
        return len(columns) == len(MODELS) and all(
            c.get_attribute("data-state") == "ready" and c.get_attribute("data-history") == expected for c in columns
        )

    WebDriverWait(browser, 20).until(ready)
    return {model: picks(browser, model) for model in MODELS}


def test_build_a_history_and_see_every_model_answer(browser: Any, url: str, tmp_path: Path) -> None:
    browser.get(url + "/")
    first = wait_for_answers(browser)  # a new visitor: lists for the empty history
    assert all(len(ids) == 10 for ids in first.values())

    search = browser.find_element(By.ID, "search")
    search.send_keys("cat")
    WebDriverWait(browser, 10).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#search-results .search-item")) >= 2)
    titles = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "#search-results .search-item .title")]
    assert all("cat" in title.lower() for title in titles)
    add_buttons = browser.find_elements(By.CSS_SELECTOR, "#search-results .search-item button.add")
    add_buttons[0].click()
    WebDriverWait(browser, 10).until(lambda d: len(history(d)) == 1)
    add_buttons[1].click()
    WebDriverWait(browser, 10).until(lambda d: len(history(d)) == 2)
    two = wait_for_answers(browser)
    assert all(len(ids) == 10 for ids in two.values())
    assert not set(two["popularity"]) & set(history(browser))  # already bought: left out
    for model in MODELS:
        column = browser.find_element(By.CSS_SELECTOR, f'.model[data-model="{model}"]')
        assert column.find_element(By.CSS_SELECTOR, ".pick .chip").text  # categories shown
        assert column.find_element(By.CSS_SELECTOR, ".why-summary").text  # the first pick explained

    # A third item: the best seller, added from popularity's own list, so both lists must move.
    browser.find_element(By.CSS_SELECTOR, '.model[data-model="popularity"] .pick button.add').click()
    WebDriverWait(browser, 10).until(lambda d: len(history(d)) == 3)
    three = wait_for_answers(browser)
    assert three["popularity"] != two["popularity"] and three["markov"] != two["markov"]

    # Move the last item first, then remove it: the history is what the buttons say.
    ids = history(browser)
    browser.find_elements(By.CSS_SELECTOR, "#history .history-item button[aria-label^='Move'][aria-label$='earlier']")[2].click()
    WebDriverWait(browser, 10).until(lambda d: history(d) == [ids[0], ids[2], ids[1]])
    wait_for_answers(browser)
    browser.find_elements(By.CSS_SELECTOR, "#history .history-item button.remove")[1].click()
    WebDriverWait(browser, 10).until(lambda d: history(d) == [ids[0], ids[1]])
    removed = wait_for_answers(browser)
    assert removed["popularity"] != three["popularity"] and removed["markov"] != three["markov"]
    assert removed == two  # the same history as before: the same answers

    status = browser.find_element(By.ID, "status").text
    assert "2 model(s) answered" in status, status
    shot = Path(os.environ.get("SEQREC_SCREENSHOT") or tmp_path / "playground.png")
    shot.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
