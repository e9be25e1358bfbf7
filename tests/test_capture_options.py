"""Each capture option, proven with the real engine (Chromium behind the egress guard) on
pages the tests serve, by looking at the picture it takes."""
import io

import pytest
from PIL import Image

from shootflow.capture import Browser, BrowserOptions, CaptureOptions, PageError, read_options


@pytest.fixture(scope="module")
def browser():
    browser = Browser(BrowserOptions(allowed_networks=("127.0.0.1/32",), page_load_timeout=10))
    yield browser
    browser.quit()


def shoot(browser, url, **raw):
    """Capture url with options as a request would send them."""
    result = browser.capture(url, "tests", CaptureOptions.merged(read_options(raw)))
    browser.end_capture()
    return result


def picture(result):
    return Image.open(io.BytesIO(result.image)).convert("RGB")


def test_the_image_has_the_viewport_size_times_the_scale(browser, pages):
    result = shoot(browser, pages.url(title="Sized"), viewport="800x600", scale=2)
    assert picture(result).size == (1600, 1200) == (result.width, result.height)
    assert result.options["viewport"] == "800x600" and result.options["scale"] == 2


def test_the_phone_preset_is_a_phone(browser, pages):
    result = shoot(browser, pages.url("/echo", id="phone"), viewport="phone")
    assert picture(result).size == (390 * 3, 844 * 3)
    assert "Mobile" in pages.seen("phone")["User-Agent"] and "Android" in result.title
    # the next plain capture in the same tab is a desktop again
    desktop = shoot(browser, pages.url("/echo", id="desktop"))
    assert picture(desktop).size == (1280, 800)
    assert "Mobile" not in pages.seen("desktop")["User-Agent"]


def test_a_full_page_is_taller_than_the_viewport_and_has_its_lazy_content(browser, pages):
    result = shoot(browser, pages.url("/doc", name="tall"), full_page=True)
    image = picture(result)
    assert image.size == (1280, 6000) and result.truncated is False
    assert image.getpixel((640, 500)) == (0, 0, 255)
    assert image.getpixel((640, 1500)) == (255, 255, 0)
    assert image.getpixel((640, 5500)) == (0, 255, 0)  # lazy: only after scrolling to it


def test_a_page_taller_than_max_height_is_cut_there_and_flagged(browser, pages):
    result = shoot(browser, pages.url("/doc", name="very-tall"), full_page=True,
                   max_height=20000)
    image = picture(result)
    assert image.size == (1280, 20000) and result.truncated is True
    # Every band in its place: captured in slices, none repeated or lost.
    for band in (0, 7, 8, 9, 15, 16, 17, 19):
        red, green, blue = image.getpixel((640, band * 1000 + 500))
        assert abs(red - band * 8) <= 2 and green <= 2 and abs(blue - 128) <= 2, band


def test_the_selector_crops_to_the_element(browser, pages):
    result = shoot(browser, pages.url("/doc", name="elements"), selector="#box")
    image = picture(result)
    assert image.size == (300, 150)
    assert image.getpixel((150, 75)) == (255, 0, 0)


def test_a_selector_matching_nothing_is_a_clear_error(browser, pages):
    with pytest.raises(PageError, match=r"no element matches the selector \(#missing\)"):
        shoot(browser, pages.url("/doc", name="elements"), selector="#missing")


def test_hidden_elements_are_gone(browser, pages):
    url = pages.url("/doc", name="elements")
    assert picture(shoot(browser, url)).getpixel((100, 100)) == (255, 0, 0)
    image = picture(shoot(browser, url, hide=["#box", ".nothing-matches"]))
    assert image.getpixel((100, 100)) == (255, 255, 255)
    assert image.getpixel((640, 750)) == (0, 0, 255)  # the rest is still there


def test_dark_mode_changes_the_pixels_of_a_page_styled_for_it(browser, pages):
    url = pages.url("/doc", name="dark")
    assert picture(shoot(browser, url)).getpixel((10, 10)) == (255, 255, 255)
    assert picture(shoot(browser, url, dark_mode=True)).getpixel((10, 10)) == (0, 0, 0)
    assert picture(shoot(browser, url)).getpixel((10, 10)) == (255, 255, 255)


def test_reduced_motion_changes_the_pixels_of_a_page_styled_for_it(browser, pages):
    url = pages.url("/doc", name="motion")
    assert picture(shoot(browser, url, reduced_motion=True)).getpixel((10, 10)) == \
        (128, 128, 128)
    assert picture(shoot(browser, url)).getpixel((10, 10)) == (255, 255, 255)


@pytest.mark.parametrize("image_format, pillow_format", [("jpeg", "JPEG"), ("webp", "WEBP"),
                                                         ("png", "PNG")])
def test_image_formats_decode(browser, pages, image_format, pillow_format):
    result = shoot(browser, pages.url(title="Formats", color="#ff0000"), format=image_format)
    image = Image.open(io.BytesIO(result.image))
    assert image.format == pillow_format and image.size == (1280, 800)
    red, green, blue = image.convert("RGB").getpixel((640, 700))
    assert red > 240 and green < 15 and blue < 15


def test_quality_changes_the_jpeg(browser, pages):
    url = pages.url("/doc", name="very-tall")
    low = shoot(browser, url, format="jpeg", quality=10).image
    high = shoot(browser, url, format="jpeg", quality=95).image
    assert len(low) < len(high)


def test_pdf_decodes(browser, pages):
    import pypdfium2
    result = shoot(browser, pages.url(title="Printed"), format="pdf")
    assert result.image.startswith(b"%PDF-")
    document = pypdfium2.PdfDocument(result.image)
    assert len(document) == 1
    assert "Printed" in document[0].get_textpage().get_text_range()


def test_headers_cookies_and_user_agent_reach_the_server(browser, pages):
    shoot(browser, pages.url("/echo", id="sent"), user_agent="shootflow-test/1.0",
          headers={"Accept-Language": "de-CH", "X-Trace": "abc"},
          cookies=[{"name": "session", "value": "s3cret"}])
    seen = pages.seen("sent")
    assert seen["User-Agent"] == "shootflow-test/1.0"
    assert seen["Accept-Language"] == "de-CH" and seen["X-Trace"] == "abc"
    assert seen["Cookie"] == "session=s3cret"
    # none of it follows into the next capture
    shoot(browser, pages.url("/echo", id="after"))
    after = pages.seen("after")
    assert "X-Trace" not in after and "Cookie" not in after
    assert after["User-Agent"] != "shootflow-test/1.0"


def test_networkidle_waits_for_requests_after_load(browser, pages):
    url = pages.url("/doc", name="fetching")
    assert picture(shoot(browser, url)).getpixel((10, 10)) == (255, 255, 255)
    result = shoot(browser, url, wait_until="networkidle")
    assert picture(result).getpixel((10, 10)) == (0, 255, 0)
    assert result.timings["ready"] >= 1000


def test_wait_for_waits_for_the_element(browser, pages):
    url = pages.url("/doc", name="late")
    assert picture(shoot(browser, url, wait_for="#late")).getpixel((10, 10)) == (0, 255, 0)
    with pytest.raises(PageError, match=r"no element matched wait_for \(#never\) within 2 s"):
        shoot(browser, url, wait_for="#never", timeout=2)


def test_delay_waits(browser, pages):
    url = pages.url("/doc", name="late")
    assert picture(shoot(browser, url, delay=1)).getpixel((10, 10)) == (0, 255, 0)


def test_javascript_runs_before_the_capture(browser, pages):
    url = pages.url(title="Scripted")
    result = shoot(browser, url, javascript="document.body.style.background = '#00ff00'")
    assert picture(result).getpixel((640, 700)) == (0, 255, 0)
    with pytest.raises(PageError, match="the javascript option failed: .*nope"):
        shoot(browser, url, javascript="throw new Error('nope')")


def test_the_capture_reports_redirects_headers_and_console_errors(browser, pages):
    target = pages.url("/doc", name="errors")
    result = shoot(browser, pages.url("/redirect", to=target), delay=0.5)
    assert list(result.redirects) == [pages.url("/redirect", to=target), target]
    assert dict(result.response_headers)["Content-Type"].startswith("text/html")
    assert "something broke" in result.console_errors
    assert any("late failure" in error for error in result.console_errors)
    assert set(result.timings) == {"navigation", "ready", "capture", "encode"}


def test_hide_banners_removes_a_real_consent_tool_s_banner(browser, pages):
    """The banner carries OneTrust's markup (#onetrust-banner-sdk), which the vendored
    EasyList Cookie List hides; nothing in shootflow names it."""
    url = pages.url("/doc", name="elements")
    assert picture(shoot(browser, url)).getpixel((640, 750)) == (0, 0, 255)
    image = picture(shoot(browser, url, hide_banners=True))
    assert image.getpixel((640, 750)) == (255, 255, 255)
    assert image.getpixel((100, 100)) == (255, 0, 0)  # the page itself stays


def test_hide_banners_answers_a_consent_tool_with_reject(browser, pages):
    """DuckDuckGo's autoconsent knows this tool (cookieconsent v2) and presses its "Reject
    all", which turns the page green; without the option nobody presses it."""
    url = pages.url("/doc", name="consent")
    assert picture(shoot(browser, url)).getpixel((640, 700)) == (255, 255, 255)
    assert picture(shoot(browser, url, hide_banners=True)).getpixel((640, 700)) == (0, 255, 0)
    # the script was this capture's only
    assert picture(shoot(browser, url)).getpixel((640, 700)) == (255, 255, 255)


def test_block_ads_keeps_ads_and_trackers_from_loading(browser, pages):
    url = pages.url("/doc", name="ads")
    script = pages.url("/js/prebid.js")
    before = pages.loads(script)
    shoot(browser, url)
    assert pages.loads(script) == before + 1
    assert browser.proxy.failure("www.google-analytics.com", 443) != \
        "blocked as an ad or tracker"
    shoot(browser, url, block_ads=True)
    assert pages.loads(script) == before + 1  # not asked for again
    assert browser.proxy.failure("www.google-analytics.com", 443) == \
        "blocked as an ad or tracker"
