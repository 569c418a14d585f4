"""The UI on a phone-sized screen, every control named for assistive technology, and a server
that requires an API key (kept in the browser, sent as a Bearer token, images included)."""

from __future__ import annotations

import pytest

pytest.importorskip("playwright")
from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.slow

UNNAMED_CONTROLS = """() => [...document.querySelectorAll("button, input, select, textarea, summary, [tabindex]")]
  .filter((e) => e.getClientRects().length || e.classList.contains("visually-hidden"))
  .filter((e) => !((e.labels && e.labels.length) || e.getAttribute("aria-label") || e.getAttribute("aria-labelledby")
                   || e.textContent.trim() || e.title))
  .map((e) => e.outerHTML.slice(0, 120))"""
OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"


def test_a_phone_gets_one_step_per_screen_under_a_sticky_step_bar(new_context, watcher, fresh, screenshot, astronaut_jpeg):
    context = new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = context.new_page()
    watched = watcher(context, page)
    page.goto(fresh.url)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    bar = page.locator("#step-bar")
    expect(bar).to_be_visible()
    page.select_option("#preset", "headshot")
    page.set_input_files("#file-input", astronaut_jpeg)
    expect(page.locator("#thumbs .thumb[data-upload]")).to_have_count(1, timeout=30_000)
    expect(page.locator("#crop-readout")).to_contain_text("ratio 4:5 locked", timeout=30_000)

    # step 1 alone: the photo and its checklist; the other steps wait behind the bar
    def only(panel: str) -> None:
        for name in ("photos", "crop", "generate", "review"):
            expect(page.locator(f"#{name}-panel")).to_be_visible() if name == panel else expect(page.locator(f"#{name}-panel")).to_be_hidden()
        expect(bar.locator(f'button[data-step="{panel}"]')).to_have_attribute("aria-current", "step")

    only("photos")
    assert page.evaluate(OVERFLOW) == 0
    assert page.evaluate(UNNAMED_CONTROLS) == []
    screenshot(page, "20-phone-photo", docs="phone-1-photo")

    bar.get_by_role("button", name="Crop").click()
    only("crop")
    expect(page.locator("#crop-image")).to_have_attribute("data-loaded", "true")
    assert page.locator("#crop-image").bounding_box()["width"] > 300
    crop_bottom = page.locator("#crop-readout").bounding_box()
    assert crop_bottom["y"] + crop_bottom["height"] <= 844  # the photo, the box and its readout on one screen
    screenshot(page, "21-phone-crop", docs="phone-2-crop")

    # step 3 on one screen: Generate is there without scrolling (it sat about 3000 px down before)
    bar.get_by_role("button", name="Generate").click()
    only("generate")
    page.fill("#prompt", "navy blazer")
    button = page.locator("#generate").bounding_box()
    assert button["y"] + button["height"] <= 844, button
    bar_box = bar.bounding_box()
    page.mouse.wheel(0, 400)
    expect(bar).to_be_in_viewport()  # sticky: the steps stay in reach
    assert bar.bounding_box()["y"] == pytest.approx(0, abs=1) and bar_box["height"] < 80
    page.locator(".advanced summary").click()
    page.fill("#steps", "4")
    page.fill("#num-images", "2")
    page.fill("#seed", "7")
    page.locator("#deliver").uncheck()
    page.locator("#generate").scroll_into_view_if_needed()
    screenshot(page, "22-phone-generate", docs="phone-3-generate")
    page.locator("#generate").click()

    # after Generate the review step shows, with the job focused and its results when done
    only("review")
    expect(page.locator("#results .result")).to_have_count(2, timeout=90_000)
    expect(page.locator("#results .result img").first).to_have_attribute("data-loaded", "true")
    assert page.evaluate(OVERFLOW) == 0
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "23-phone-results", docs="phone-4-review")

    page.locator("#results .result").first.get_by_role("button", name="Full size: image 1").click()
    expect(page.locator("#viewer-image")).to_have_attribute("data-loaded", "true")
    viewer = page.locator("#viewer").bounding_box()
    assert viewer["width"] <= 390
    screenshot(page, "24-phone-viewer", full_page=False)
    page.keyboard.press("Escape")

    page.get_by_role("button", name="History", exact=True).click()
    expect(page.locator("#history .history-item").first).to_be_visible()
    assert page.evaluate(OVERFLOW) == 0
    assert page.evaluate(UNNAMED_CONTROLS) == []
    screenshot(page, "25-phone-history", docs="phone-5-history")
    watched.assert_clean()


def test_a_server_with_keys_asks_for_one_and_the_saved_key_opens_everything(page, watched, fresh_with_key, screenshot,
                                                                             astronaut_jpeg):
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(fresh_with_key.url)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    refused = page.locator(".notice.error").first
    expect(refused).to_contain_text("an API key is required")
    expect(refused).to_contain_text("How to fix it: send Authorization: Bearer <key>")
    expect(page.locator(".notice.error")).to_have_count(1)  # one notice, though several requests were refused
    expect(page.locator("#settings")).to_have_attribute("open", "")
    expect(page.locator("#key-state")).to_have_text("No key saved. This server requires a key.")
    screenshot(page, "30-key-required")

    page.get_by_label("API key").fill(fresh_with_key.api_key)
    page.get_by_role("button", name="Save key").click()
    expect(page.locator("#key-state")).to_have_text("A key is saved in this browser and sent with every request. "
                                                    "This server requires a key.")
    assert page.evaluate("localStorage.getItem('photogen.apiKey')") == fresh_with_key.api_key

    page.set_input_files("#file-input", astronaut_jpeg)
    expect(page.locator("#thumbs .thumb[data-upload]")).to_have_count(1, timeout=30_000)
    expect(page.locator("#crop-image")).to_have_attribute("data-loaded", "true")  # the preview, fetched with the key
    with fresh_with_key.client() as api:
        uploads = api.get("/v1/uploads").json()
    assert [u["filename"] for u in uploads] == ["astronaut.jpg"]

    # the key is remembered: a reload lists the photo without asking again
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("#thumbs .thumb[data-upload] img")).to_have_attribute("data-loaded", "true")
    expect(page.locator(".notice.error")).to_have_count(0)
    watched.assert_clean(failed_loads_expected=True)  # the first requests, before the key, were refused
