"""A person in a real browser: paste URLs, watch the cards fill in, open a screenshot."""
import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from tests.helpers import headless_chromium


@pytest.fixture(scope="module")
def person():
    driver = headless_chromium()
    yield driver
    driver.quit()


def test_paste_three_urls_and_watch_them_fill_in(worker, live_server, pages, person):
    red = pages.url(title="Red page", color="#e33")
    green = pages.url("/redirect", to="/page?title=Green+page&color=%2333aa33")
    person.get(live_server.url + "/")
    person.find_element(By.ID, "urls").send_keys(f"{red}\n{green}\nnope.invalid\n")
    person.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()

    # htmx swaps the status and changed cards every 500 ms: an element found a moment
    # ago may be gone
    wait = WebDriverWait(person, 90, poll_frequency=0.2,
                         ignored_exceptions=[StaleElementReferenceException])
    wait.until(EC.presence_of_element_located((By.ID, "bundle")))
    bundle_url = person.current_url
    assert "/bundles/" in bundle_url
    person.execute_script("window.sameDocument = true;")
    wait.until(lambda d: d.find_element(By.ID, "bundle-status").get_attribute("data-state")
               not in ("queued", "running"))
    assert person.find_element(By.ID, "bundle-state").text.lower() == "partial"

    thumbnails = person.find_elements(By.CSS_SELECTOR, ".card img")
    assert len(thumbnails) == 2
    assert all(person.execute_script("return arguments[0].naturalWidth", img) == 400
               for img in thumbnails)
    errors = [e.text for e in person.find_elements(By.CSS_SELECTOR, ".card .shot-error")]
    assert errors == ["could not resolve host nope.invalid"]
    assert person.find_element(By.ID, "progress-count").text == "3 of 3 finished"
    assert person.execute_script("return window.sameDocument === true")
    status = person.find_element(By.ID, "bundle-status")
    assert status.get_attribute("hx-trigger") is None  # finished: no more polling

    person.find_elements(By.CSS_SELECTOR, ".card a.thumb")[1].click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "img.full")))
    assert person.find_element(By.TAG_NAME, "h1").text == "Green page"
    assert person.find_element(By.ID, "final-url").text.endswith(
        "/page?title=Green+page&color=%2333aa33")
    full = person.find_element(By.CSS_SELECTOR, "img.full")
    assert person.execute_script("return arguments[0].naturalWidth", full) == 1280


def test_cancel_from_the_bundle_page(worker, live_server, pages, person):
    person.get(live_server.url + "/")
    slow = [pages.url("/slow", ui=n) for n in range(3)]
    person.find_element(By.ID, "urls").send_keys("\n".join(slow))
    person.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait = WebDriverWait(person, 30, poll_frequency=0.2,
                         ignored_exceptions=[StaleElementReferenceException])
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".card[data-state=running]"))
    person.execute_script("window.sameDocument = true;")
    # the button is swapped every 500 ms: find and click it in one retried step
    wait.until(lambda d: d.find_element(By.ID, "cancel-bundle").click() or True)
    wait.until(lambda d: d.find_element(By.ID, "bundle-status").get_attribute("data-state")
               == "cancelled")
    states = [c.get_attribute("data-state") for c in person.find_elements(By.CSS_SELECTOR, ".card")]
    assert states == ["cancelled"] * 3
    assert person.find_elements(By.ID, "cancel-bundle") == []
    assert person.execute_script("return window.sameDocument === true")


def test_long_bundle_loads_cards_on_scroll_and_keeps_them_live(
        worker, live_server, pages, person, monkeypatch):
    """Cards loaded by scrolling are polled too; cancelling one leaves the list in place."""
    monkeypatch.setattr("shootflow.web.pages.CARDS_PER_LOAD", 2)  # the live server's thread
    person.get(live_server.url + "/")
    urls = [pages.url("/slow", seconds=2, scroll=n) for n in range(5)]
    person.find_element(By.ID, "urls").send_keys("\n".join(urls))
    person.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait = WebDriverWait(person, 60, poll_frequency=0.2,
                         ignored_exceptions=[StaleElementReferenceException])
    wait.until(EC.presence_of_element_located((By.ID, "bundle")))
    person.execute_script("window.sameDocument = true;")

    def all_cards_loaded(driver):
        driver.execute_script("window.scrollTo(0, document.body.scrollHeight)")
        return len(driver.find_elements(By.CSS_SELECTOR, ".card")) == 5
    wait.until(all_cards_loaded)
    assert person.find_element(By.ID, "cards-upto").get_attribute("value") == "4"
    # The last shot waits behind the first four (two captures at a time, 2 s each).
    last = person.find_elements(By.CSS_SELECTOR, ".card")[4]
    assert last.get_attribute("data-state") == "queued"
    last.find_element(By.CSS_SELECTOR, "button.link").click()

    wait.until(lambda d: d.find_element(By.ID, "bundle-status").get_attribute("data-state")
               not in ("queued", "running"))
    states = [c.get_attribute("data-state") for c in person.find_elements(By.CSS_SELECTOR, ".card")]
    assert states == ["done"] * 4 + ["cancelled"]  # scrolled-in cards were kept live by the polls
    assert len(person.find_elements(By.CSS_SELECTOR, ".card img")) == 4
    assert person.execute_script("return window.sameDocument === true")


def test_choose_options_and_see_them_on_the_shot(worker, live_server, pages, person):
    from selenium.webdriver.support.ui import Select
    person.get(live_server.url + "/")
    person.find_element(By.ID, "urls").send_keys(pages.url(title="Phone page"))
    person.find_element(By.CSS_SELECTOR, "details.options summary").click()
    Select(person.find_element(By.ID, "viewport")).select_by_value("phone")
    Select(person.find_element(By.ID, "format")).select_by_value("jpeg")
    person.find_element(By.NAME, "full_page").click()
    person.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()

    wait = WebDriverWait(person, 90, poll_frequency=0.2,
                         ignored_exceptions=[StaleElementReferenceException])
    wait.until(lambda d: d.find_element(By.ID, "bundle-status").get_attribute("data-state")
               == "done")
    options = person.find_element(By.ID, "bundle-options").text
    assert options == "Options: viewport phone · format jpeg · full_page true"
    person.find_element(By.CSS_SELECTOR, ".card a.thumb").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "img.full")))
    shot_options = person.find_element(By.ID, "shot-options").text
    assert "viewport 390x844" in shot_options and "format jpeg" in shot_options
    assert "full_page true" in shot_options and "scale 3" in shot_options
    full = person.find_element(By.CSS_SELECTOR, "img.full")
    assert full.get_attribute("src").endswith("/image.jpg")
    assert person.execute_script("return arguments[0].naturalWidth", full) == 390 * 3
