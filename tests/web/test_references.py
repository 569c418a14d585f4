"""Reference photos in the browser: a generation drawing on an identity set, an avatar-set run with its
scores and grid, and the restoration of a scan with a damage mask painted and erased by hand."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("playwright")
from playwright.sync_api import Page, expect  # noqa: E402

pytestmark = pytest.mark.slow
GEN_MS = 120_000


def test_an_identity_set_a_generation_drawing_on_it_an_avatar_run_and_a_restoration(page: Page, watched, fresh, screenshot,
                                                                                     astronaut_jpeg, coffee_png):
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(fresh.url)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    page.select_option("#preset", "headshot")
    page.set_input_files("#file-input", astronaut_jpeg)
    expect(page.locator("#thumbs .thumb[data-upload]")).to_have_count(1, timeout=30_000)
    upload_id = page.locator("#thumbs .thumb.selected").get_attribute("data-upload")
    with fresh.client() as api:
        made = api.post("/v1/identities", json={"name": "Eileen", "upload_ids": [upload_id]})
        assert made.status_code == 201, made.text
        identity = made.json()

    # a generation drawing on the set: the job records it; tiny takes no reference photos, and says so
    page.locator("#refs-box summary").click()
    expect(page.locator("#identity option")).to_have_count(2)
    page.select_option("#identity", identity["id"])
    expect(page.locator("#refs-help")).to_contain_text("Upload more photos of the same person or product")
    page.fill("#prompt", "studio headshot")
    page.locator(".advanced summary").click()
    page.fill("#steps", "2")
    page.fill("#num-images", "1")
    page.locator("#deliver").uncheck()
    page.locator("#generate").click()
    card = page.locator("#jobs .job").first
    expect(card).to_have_attribute("data-state", "succeeded", timeout=GEN_MS)
    with fresh.client() as api:
        job = api.get(f"/v1/jobs/{card.get_attribute('data-job')}").json()
    assert job["identity_id"] == identity["id"]
    output = next(a for a in job["assets"] if a["kind"] == "output")
    assert "identity_set" in (output["scores"] or {})  # scored against the whole set

    # an avatar-set run: one scenario, its scored output and the grid
    page.get_by_role("button", name="Identity sets", exact=True).click()
    page.get_by_role("button", name="Eileen").click()
    page.fill("#avatar-steps", "2")
    page.get_by_role("button", name="Run the avatar set").click()
    out = page.locator(".avatar-out")
    expect(out).to_have_attribute("data-state", "succeeded", timeout=GEN_MS)
    expect(out.locator(".avatar-run")).to_have_count(1)
    expect(out.locator(".avatar-grid")).to_have_attribute("data-loaded", "true")
    with fresh.client() as api:
        avatar = api.get(f"/v1/avatar-sets/{out.get_attribute('data-avatar')}").json()
    assert avatar["identity_id"] == identity["id"] and avatar["grid"] is not None
    first = avatar["runs"][0]["outputs"][0]
    caption = out.locator(".avatar-run .caption").first
    # the random tiny model draws no face: the output is marked below the identity threshold, and says so
    expect(caption).to_have_text("no face · marked" if first["id"] in avatar["marked"] else re.compile(r"^identity "))
    expect(out.locator(".avatar-state")).to_contain_text(f"{len(avatar['marked'])} below the identity threshold")
    screenshot(page, "45-avatar-set", full_page=False)

    # a restoration: paint the damage, erase part of it, restore, compare before and after
    page.get_by_role("button", name="Create", exact=True).click()
    page.set_input_files("#file-input", coffee_png)
    expect(page.locator("#thumbs .thumb[data-upload]")).to_have_count(2, timeout=30_000)
    page.get_by_role("button", name="Restore", exact=True).click()
    expect(page.locator("#restore-image")).to_have_attribute("data-loaded", "true")
    canvas = page.locator("#mask-canvas")
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 40, box["y"] + 40)
    page.mouse.down()
    page.mouse.move(box["x"] + 160, box["y"] + 60, steps=8)
    page.mouse.up()
    expect(page.locator("#mask-state")).to_have_text("Your mask: only what you painted is repaired.")
    page.get_by_role("button", name="Erase").click()
    expect(page.get_by_role("button", name="Erase")).to_have_attribute("aria-pressed", "true")
    page.mouse.move(box["x"] + 150, box["y"] + 58)
    page.mouse.down()
    page.mouse.up()
    painted = page.evaluate("""() => { const c = document.querySelector('#mask-canvas');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""")
    assert painted > 500
    page.locator("#restore-run").click()
    expect(page.locator("#restore-status")).to_contain_text("Restored: 600×400 px", timeout=GEN_MS)
    expect(page.locator('#restore-steps li[data-kind="output"]')).to_have_count(1)
    page.get_by_role("button", name="Before / after").click()
    expect(page.locator("#compare-after")).to_have_attribute("data-loaded", "true")
    screenshot(page, "46-restoration", full_page=False)
    page.keyboard.press("Escape")
    with fresh.client() as api:
        restoration = api.get("/v1/jobs").json()[0]
    assert restoration["kind"] == "restore" and restoration["state"] == "succeeded"
    watched.assert_clean()
