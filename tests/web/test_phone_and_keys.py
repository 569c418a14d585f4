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


def test_a_phone_gets_one_readable_column_from_upload_to_results(new_context, watcher, fresh, screenshot, astronaut_jpeg):
    context = new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = context.new_page()
    watched = watcher(context, page)
    page.goto(fresh.url)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    page.select_option("#use", "headshot")
    page.set_input_files("#file-input", astronaut_jpeg)
    expect(page.locator("#crop-readout")).to_contain_text("ratio 4:5 locked", timeout=30_000)
    expect(page.locator("#crop-image")).to_have_attribute("data-loaded", "true")

    # one column, nothing wider than the screen, the crop photo as wide as its panel
    assert page.evaluate(OVERFLOW) == 0
    panels = [page.locator(f"#{name}-panel").bounding_box() for name in ("photos", "crop", "generate", "review")]
    assert len({round(p["x"]) for p in panels}) == 1 and all(p["width"] > 330 for p in panels)
    assert all(a["y"] + a["height"] <= b["y"] for a, b in zip(panels, panels[1:]))
    assert page.locator("#crop-image").bounding_box()["width"] > 300
    assert page.evaluate(UNNAMED_CONTROLS) == []
    screenshot(page, "20-phone-upload")

    # a recipe fills in the prompt around the user's own words, and its settings
    with fresh.client() as api:
        recipe = next(r for r in api.get("/v1/recipes").json() if r["name"] == "headshot")
    page.select_option("#recipe", recipe["ref"])
    expect(page.locator("#prompt-label")).to_have_text("Your details")
    expect(page.locator("#recipe-help")).to_contain_text(recipe["notes"])
    expect(page.locator("#negative")).to_have_value(recipe["negative_prompt"])
    expect(page.locator("#strength-value")).to_have_text(f"{recipe['image_strength']:g}")
    page.fill("#prompt", "navy blazer")
    filled = recipe["prompt"].replace("{details}", "navy blazer")
    expect(page.locator("#prompt-preview")).to_have_text(f"Prompt sent: {filled}")
    page.locator(".advanced summary").click()
    page.fill("#steps", "4")
    page.fill("#num-images", "2")
    page.fill("#seed", "7")
    page.locator("#generate").click()
    expect(page.locator("#results .result")).to_have_count(2, timeout=90_000)
    with fresh.client() as api:
        job = api.get("/v1/jobs").json()[0]
    assert (job["request"]["recipe"], job["request"]["prompt"]) == (recipe["ref"], filled)
    expect(page.locator("#results .result img").first).to_have_attribute("data-loaded", "true")
    assert page.evaluate(OVERFLOW) == 0
    page.locator("#review-panel").scroll_into_view_if_needed()
    screenshot(page, "21-phone-results")

    page.locator("#results .result").first.get_by_role("button", name="Full size: image 1").click()
    expect(page.locator("#viewer-image")).to_have_attribute("data-loaded", "true")
    viewer = page.locator("#viewer").bounding_box()
    assert viewer["width"] <= 390
    screenshot(page, "22-phone-viewer", full_page=False)
    page.keyboard.press("Escape")

    page.get_by_role("button", name="History", exact=True).click()
    expect(page.locator("#history .history-item").first).to_be_visible()
    assert page.evaluate(OVERFLOW) == 0
    assert page.evaluate(UNNAMED_CONTROLS) == []
    screenshot(page, "23-phone-history")
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
