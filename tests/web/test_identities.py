"""Identity sets in the browser: pick uploaded photos, make a set, read its coverage report, take the
photo of somebody else out, delete the set. What the page says is checked against the REST API."""

from __future__ import annotations

import pytest

from photogen.intake import calibration

pytest.importorskip("playwright")
from playwright.sync_api import Page, expect


@pytest.fixture
def api(fresh):
    with fresh.client() as client:
        yield client


def test_make_a_set_read_its_coverage_and_take_somebody_else_out(page: Page, watched, fresh, api, screenshot):
    sample = calibration.sample_photos()
    ids = {}
    for name, rgb in (("eileen.jpg", sample["astronaut"]), ("eileen-dim.jpg", calibration.exposure(sample["astronaut"], -1)),
                      ("grace.jpg", sample["grace_hopper"])):
        response = api.post("/v1/uploads", files={"file": (name, calibration.jpeg_bytes(rgb, 92), "image/jpeg")})
        ids[name] = response.json()["id"]
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{fresh.url}/#identities")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("#identity-list-empty")).to_be_visible()

    # 1. name the set, tick the three photos, create it
    page.fill("#identity-name", "Eileen")
    for name in ids:
        page.locator("#identity-pick label", has_text=name).locator("input").check()
    page.click("#identity-create")
    body = page.locator("#coverage-body")
    expect(body).to_be_visible(timeout=30_000)
    set_id = body.get_attribute("data-set")
    made = api.get(f"/v1/identities/{set_id}").json()
    grace = next(m for m in made["members"] if m["filename"] == "grace.jpg")

    # 2. the report as the API has it: Grace Hopper flagged by name with her score, what is missing
    expect(page.locator("#coverage-verdict")).to_have_text("Needs attention: 3 photos, 3 usable")
    flag = page.locator("#coverage-body .check.level-block")
    expect(flag).to_contain_text(f"grace.jpg does not look like the set's person: similarity {grace['similarity']:.2f}")
    expect(page.locator(".identity-missing li")).to_have_count(len(made["coverage"]["missing"]))
    expect(page.locator(".identity-missing")).to_contain_text("three-quarter angle")
    expect(body).to_contain_text("straight-on 3 · three-quarter left 0 · three-quarter right 0")
    expect(page.locator(f'.identity-ref[data-upload="{ids["grace.jpg"]}"]')).to_have_class("identity-ref level-block")
    expect(page.locator("#identity-list li")).to_have_count(1)
    expect(page.locator("#identity-list")).to_contain_text("3 photos, 3 usable")
    screenshot(page, "identities-01-report")

    # 3. take her out: the report clears, the history says so
    page.locator(f'.identity-ref[data-upload="{ids["grace.jpg"]}"] button').click()
    expect(page.locator("#coverage-verdict")).to_contain_text("2 photos, 2 usable")
    expect(page.locator("#coverage-body .check.level-block")).to_have_count(0)
    page.locator("#coverage-body details summary").click()
    expect(page.locator(".identity-history li").last).to_contain_text("removed grace.jpg by local: removed by the owner")
    assert sorted(m["filename"] for m in api.get(f"/v1/identities/{set_id}").json()["members"]) == ["eileen-dim.jpg",
                                                                                                     "eileen.jpg"]

    # 4. delete the set: the photos stay
    page.click("text=Delete this set…")
    page.click("#confirm-ok")
    expect(page.locator("#identity-list-empty")).to_be_visible()
    assert api.get("/v1/identities").json() == [] and len(api.get("/v1/uploads").json()) == 3
    watched.assert_clean()
