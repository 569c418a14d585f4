"""The second pass over the web UI, in real Chromium: results delivered at the preset's size and beside the
form, work kept across a reload, toasts that go away, progress in words with live previews, delete with undo,
recipes that ask before changing anything, one choice for the use and the crop, iterating on results (stars,
zip, use as source, change one thing for one image), review scores, a searchable history, and the keyboard."""

from __future__ import annotations

import io
import re
import zipfile

import pytest

pytest.importorskip("playwright")
from playwright.sync_api import Page, expect  # noqa: E402

pytestmark = pytest.mark.slow

GEN_MS = 120_000
# Every text the first job card shows and every preview it gets, as they come (MutationObserver keeps the
# short-lived ones too).
TRAIL = """() => {
  window.__texts = []; window.__previews = [];
  new MutationObserver((records) => {
    for (const r of records) {
      const card = r.target.closest && r.target.closest(".job");
      if (!card) continue;
      const text = card.querySelector(".job-text"); if (text) window.__texts.push(text.textContent);
      const img = card.querySelector(".job-preview"); if (img && img.src.startsWith("data:")) window.__previews.push(img.src);
    }
  }).observe(document.querySelector("#jobs"), {subtree: true, childList: true, characterData: true, attributes: true});
}"""


def upload_file(page: Page, path, count: int) -> str:
    page.set_input_files("#file-input", path)
    uploaded = page.locator("#thumbs .thumb[data-upload]")
    expect(uploaded).to_have_count(count, timeout=30_000)
    expect(page.locator("#crop-readout")).to_contain_text("Box", timeout=30_000)
    return page.locator("#thumbs .thumb.selected").get_attribute("data-upload")


def fill_form(page: Page, *, prompt: str, images: int, seed: int, steps: int = 4, strength: float = 0.5) -> None:
    page.fill("#prompt", prompt)
    page.fill("#strength", str(strength))
    if not page.locator("#steps").is_visible():
        page.locator(".advanced summary").click()
    page.fill("#steps", str(steps))
    page.fill("#num-images", str(images))
    page.fill("#seed", str(seed))


def boxes_overlap(a, b) -> bool:
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


def test_generate_delivers_at_the_preset_size_beside_the_form_and_the_results_can_be_worked_on(
        page: Page, watched, fresh, screenshot, astronaut_jpeg, tmp_path):
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(fresh.url)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    page.select_option("#preset", "headshot")
    upload_id = upload_file(page, astronaut_jpeg, 1)
    fill_form(page, prompt="studio headshot, soft light", images=2, seed=7)
    expect(page.locator("#deliver")).to_be_checked()  # on by default: the native size is smaller than 800x1000
    expect(page.locator("#deliver-help")).to_contain_text("800×1000 px, enlarged by the upscale pass")
    screenshot(page, "40-generate-delivery", full_page=False)

    # 14. focus moves to the new job; 5. progress in words, with live previews
    page.evaluate(TRAIL)
    page.locator("#generate").click()
    card = page.locator("#jobs .job").first
    expect(card).to_be_focused()
    expect(card).to_have_attribute("data-state", "succeeded", timeout=GEN_MS)
    job_id = card.get_attribute("data-job")
    texts, previews = page.evaluate("[window.__texts, window.__previews]")
    assert any(re.match(r"^Generating: \d+% · \d+ s so far", t) for t in texts), texts
    assert not [t for t in texts if re.search(r"\bstep\b|\d+ of \d+|together", t, re.I)], texts  # no internal counts
    assert previews and all(p.startswith("data:image/jpeg;base64,") for p in previews)
    expect(card.locator(".job-text")).to_have_text(re.compile(r"^Done: 2 images in \d+ s\.$"))

    # 2. the results beside the form, in view
    review = page.locator("#review-panel").bounding_box()
    form = page.locator("#generate-panel").bounding_box()
    assert review["x"] >= form["x"] + form["width"] and review["y"] < 900
    results = page.locator("#results .result")
    expect(results).to_have_count(2)

    # 1. delivered at the preset's size, as its own lineage step
    with fresh.client() as api:
        job = api.get(f"/v1/jobs/{job_id}").json()
    outputs = sorted((a for a in job["assets"] if a["kind"] == "output"), key=lambda a: a["index"])
    delivered = [a for a in job["assets"] if a["kind"] == "upscale"]
    assert sorted((a["width"], a["height"]) for a in delivered) == [(800, 1000)] * 2
    expect(results.nth(0).locator(".delivered")).to_have_text("Delivered at 800×1000 (upscale pass)")

    # 10. the review scores on every card, and the order by identity
    for i, asset in enumerate(outputs):
        line = results.nth(i).locator(".score-line")
        scores = asset["scores"]
        expected = f"identity {round(scores['identity'], 2):g}" if scores.get("identity") is not None else scores["identity_note"]
        expect(line).to_contain_text(expected)
        expect(line).to_contain_text(f"structure {round(scores['structure'], 2):g}")
        expect(results.nth(i).locator(".drift")).to_have_count(1 if scores.get("identity_drift") else 0)
    with fresh.client() as api:
        by_identity = [a["id"] for a in api.get(f"/v1/jobs/{job_id}", params={"sort": "identity"}).json()["assets"] if a["kind"] == "output"]
    page.select_option("#sort", "identity")
    expect(results.nth(0)).to_have_attribute("data-asset", by_identity[0])
    page.select_option("#sort", "index")
    expect(results.nth(0)).to_have_attribute("data-asset", outputs[0]["id"])
    screenshot(page, "41-results-wide", full_page=False)

    # 9. stars and the filter; download all as a zip
    results.nth(1).get_by_role("button", name="Star image 2").click()
    expect(results.nth(1).get_by_role("button", name="Star image 2")).to_have_attribute("aria-pressed", "true")
    page.get_by_label("Starred only").check()
    expect(results).to_have_count(1)
    expect(results.nth(0)).to_have_attribute("data-asset", outputs[1]["id"])
    page.get_by_label("Starred only").uncheck()
    expect(results).to_have_count(2)
    with page.expect_download() as info:
        page.get_by_role("button", name="Download all (.zip)").click()
    archive = zipfile.ZipFile(io.BytesIO(info.value.path().read_bytes()))
    names = sorted(archive.namelist())
    assert len([n for n in names if n.endswith("_delivered.png")]) == 2 and len([n for n in names if n.endswith(".json")]) == 2
    assert len(names) == 6 and archive.read(names[0])[:4] in (b"\x89PNG", b"{\n  ")

    # 1. upscale x2 and print advice on any output
    results.nth(0).locator(".more-tools summary").click()
    results.nth(0).get_by_role("button", name="Upscale image 1 ×2").click()
    tool = results.nth(0).locator(".tool-result")
    expect(tool).to_contain_text(f"×2: {outputs[0]['width'] * 2}×{outputs[0]['height'] * 2} px", timeout=GEN_MS)
    results.nth(0).get_by_role("button", name="Print advice for image 1").click()
    expect(tool).to_contain_text("20×25 cm at 300 DPI needs")

    # 9. change one thing for one image: POST /v1/jobs/{id}/vary, linked to its parent
    page.select_option("#change-scope", "1")
    page.fill("#change-value", "0.75")
    page.locator("#change-run").click()
    expect(page.locator("#sbs-summary")).to_have_text(
        "Changed image strength for image 2: 0.5 → 0.75. Everything else is the same, seed 8 included.")
    after = page.locator("#sbs-grid .sbs-col").nth(1)
    expect(after).to_have_attribute("data-state", "succeeded", timeout=GEN_MS)
    with fresh.client() as api:
        varied = api.get(f"/v1/jobs/{after.get_attribute('data-job')}").json()
    assert (varied["parent_id"], varied["relation"]) == (job_id, "vary")
    assert (varied["request"]["seed"], varied["request"]["num_images"]) == (8, 1)
    expect(page.locator("#sbs-grid .sbs-col").nth(0).locator(".result")).to_have_count(1)

    # 6. delete one image, undo it, delete it again: gone on the server once the undo has run out
    results.nth(0).get_by_role("button", name="Delete image 1").click()
    expect(results).to_have_count(1)
    page.locator(".notice.undo").get_by_role("button", name="Undo").click()
    expect(results).to_have_count(2)
    results.nth(0).get_by_role("button", name="Delete image 1").click()
    expect(results).to_have_count(1)
    expect(page.locator(".notice.undo")).to_have_count(0, timeout=15_000)
    with fresh.client() as api:
        assert api.get(f"/v1/assets/{outputs[0]['id']}").status_code == 404
        assert api.get(f"/v1/assets/{outputs[1]['id']}").status_code == 200

    # 3. a reload keeps the photo, the job under review, the form and the stars
    assert f"photo={upload_id}" in page.url and f"job={job_id}" in page.url
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("#thumbs .thumb.selected")).to_have_attribute("data-upload", upload_id)
    expect(page.locator("#review-summary")).to_contain_text(f"Job {job_id[:8]}")
    expect(page.locator("#prompt")).to_have_value("studio headshot, soft light")
    expect(page.locator("#strength-value")).to_have_text("0.5")
    expect(page.locator("#seed")).to_have_value("7")
    expect(page.locator("#seed-lock")).to_have_text("Locked")
    expect(page.locator("#results .result.starred")).to_have_count(1)
    expect(page.locator("#sbs-summary")).to_contain_text("Changed image strength for image 2")  # the side-by-side too
    # nothing invalid comes back: a locked seed without a seed is not restored as locked
    page.evaluate("""() => { const f = JSON.parse(localStorage.getItem('photogen.form'));
      f.seed = ''; f.seedLocked = true; f.steps = 9999; localStorage.setItem('photogen.form', JSON.stringify(f)); }""")
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("#seed-lock")).to_have_text("Unlocked")
    expect(page.locator("#seed")).to_have_value("")
    assert page.locator("#steps").input_value() != "9999"

    # 9. use an output as a new source photo
    page.locator("#results .result").nth(0).get_by_role("button", name="Use image 2 as a new source photo").click()
    expect(page.locator("#thumbs .thumb[data-upload]")).to_have_count(2, timeout=30_000)
    expect(page.locator("#thumbs .thumb.selected .thumb-name")).to_have_text(f"{job_id[:8]}_image2.png")
    watched.assert_clean()


def test_notices_recipes_the_use_and_crop_choice_history_and_the_keyboard(page: Page, watched, fresh, screenshot,
                                                                         astronaut_jpeg, coffee_png):
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(fresh.url)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")

    # 14. the hidden file input takes no tab stop, and the drop zone is no button holding controls
    page.locator("#preset").focus()
    page.keyboard.press("Tab")
    expect(page.locator("#choose-files")).to_be_focused()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") != "file-input"
    assert page.locator("#dropzone").get_attribute("role") != "button"
    assert page.evaluate("document.querySelectorAll('[role=button] button, [role=button] input, button button').length") == 0

    # 8. one choice for the use and the crop; changing it frames again without a new upload; same file, same upload
    page.select_option("#preset", "headshot")
    upload_id = upload_file(page, astronaut_jpeg, 1)
    expect(page.locator("#crop-readout")).to_contain_text("ratio 4:5 locked")
    page.select_option("#preset", "instagram-square")
    expect(page.locator("#crop-readout")).to_contain_text("ratio 1:1 locked")
    page.set_input_files("#file-input", astronaut_jpeg)
    expect(page.locator(".notice.info p").filter(has_text="already here")).to_have_count(1)
    expect(page.locator("#thumbs .thumb")).to_have_count(1)
    with fresh.client() as api:
        assert [u["id"] for u in api.get("/v1/uploads").json()] == [upload_id]
        recipe = next(r for r in api.get("/v1/recipes").json() if r["name"] == "headshot")

    # 7. a recipe shows what it would change, changes it only when applied, and gives it back when switched off
    page.fill("#negative", "my own negative")
    page.select_option("#recipe", recipe["ref"])
    changes = page.locator("#recipe-change-list li")
    expect(page.locator("#recipe-changes")).to_be_visible()
    expect(changes.filter(has_text="Negative prompt")).to_have_text(f"Negative prompt: “my own negative” → “{recipe['negative_prompt']}”")
    expect(page.locator("#negative")).to_have_value("my own negative")
    screenshot(page, "42-recipe-changes", full_page=False)
    page.get_by_role("button", name="Apply these").click()
    expect(page.locator("#negative")).to_have_value(recipe["negative_prompt"])
    expect(page.locator("#recipe-changes")).to_be_hidden()
    # the prompt sent repeats no phrase: words the template says already are not sent twice
    first_phrase = recipe["prompt"].replace("{details}", "").split(",")[0].strip()
    page.fill("#prompt", f"navy blazer, {first_phrase}, navy blazer")
    expect(page.locator("#prompt-preview")).to_have_text(f"Prompt sent: {recipe['prompt'].replace('{details}', 'navy blazer')}")
    page.select_option("#recipe", "")
    expect(page.locator("#negative")).to_have_value("my own negative")
    expect(page.locator("#preset")).to_have_value("instagram-square")

    # 4. notices: at most three, confirmations go by themselves, errors stay; never over Generate
    page.fill("#prompt", "a")
    page.evaluate("""async () => { const ui = await import('/ui.js');
      ui.showError(new Error('first problem'), 'Test'); ui.showError(new Error('second problem'), 'Test');
      ui.showInfo('saved one'); ui.showInfo('saved two'); }""")
    notices = page.locator("#notices .notice")
    expect(notices).to_have_count(3)
    expect(page.locator("#notices .notice.error")).to_have_count(2)
    expect(page.locator("#notices .notice.info")).to_have_count(0, timeout=10_000)
    expect(page.locator("#notices .notice.error")).to_have_count(2)
    for viewport in ({"width": 1440, "height": 900}, {"width": 1000, "height": 700}):
        page.set_viewport_size(viewport)
        page.locator("#generate").scroll_into_view_if_needed()
        page.evaluate("window.dispatchEvent(new Event('resize'))")
        assert not boxes_overlap(page.locator("#notices").bounding_box(), page.locator("#generate").bounding_box())
    page.set_viewport_size({"width": 1440, "height": 900})
    for _ in range(2):
        page.locator("#notices .notice.error .dismiss").first.click()
    expect(notices).to_have_count(0)

    # 11. history: search by prompt, filter by state, the source photo, and no re-run where the model is gone
    with fresh.client() as api:
        base = {"upload_id": upload_id, "steps": 2, "image_strength": 0.5, "num_images": 1, "seed": 3, "crop_preset": "instagram-square"}
        first = api.post("/v1/generations", json={**base, "prompt": "navy blazer, office"}).json()
        second = api.post("/v1/generations", json={**base, "prompt": "red scarf, park"}).json()
        for job in (first, second):
            for _ in range(600):
                if api.get(f"/v1/jobs/{job['id']}").json()["state"] == "succeeded":
                    break
                page.wait_for_timeout(100)
    page.get_by_role("button", name="History", exact=True).click()
    items = page.locator("#history .history-item")
    expect(items).to_have_count(2)
    expect(items.first.locator(".history-source")).to_have_attribute("data-loaded", "true")
    page.fill("#history-search", "navy")
    expect(items).to_have_count(1)
    expect(items.first).to_have_attribute("data-job", first["id"])
    expect(page.locator("#history-count")).to_have_text("1 of 2 jobs match, newest first")
    page.fill("#history-search", "")
    page.select_option("#history-state", "failed")
    expect(items).to_have_count(0)
    page.select_option("#history-state", "succeeded")
    expect(items).to_have_count(2)
    screenshot(page, "43-history-search", full_page=False)

    # 2. Open in review: the job's photo, crop and values, and its results in view
    page.get_by_role("button", name="Create", exact=True).click()
    page.select_option("#preset", "headshot")
    page.fill("#prompt", "something else")
    page.get_by_role("button", name="History", exact=True).click()
    page.locator(f'#history .history-item[data-job="{second["id"]}"]').get_by_role("button", name="Open in review").click()
    expect(page.locator("#view-create")).to_be_visible()
    expect(page.locator("#review-summary")).to_contain_text(f"Job {second['id'][:8]}")
    expect(page.locator("#preset")).to_have_value("instagram-square")
    expect(page.locator("#prompt")).to_have_value("red scarf, park")
    with fresh.client() as api:
        box = api.get(f"/v1/jobs/{second['id']}").json()["crop"]["box"]
    expect(page.locator("#crop-readout")).to_contain_text("Box {}, {} → {}, {}".format(*box))
    expect(page.locator("#review-heading")).to_be_focused()
    assert page.locator("#results .result").first.bounding_box()["y"] < 900

    # 14. the viewer lists its keys under "?"
    page.locator("#results .result").first.get_by_role("button", name="Full size: image 1").click()
    expect(page.locator("#viewer-image")).to_have_attribute("data-loaded", "true")
    page.locator("#viewer-stage").press("?")
    expect(page.locator("#viewer-keys")).to_be_visible()
    expect(page.locator("#viewer-keys")).to_contain_text("Page Up · Page Down")
    page.locator("#viewer-stage").press("s")
    expect(page.locator("#viewer-caption")).to_contain_text("starred")
    screenshot(page, "44-viewer-keys", full_page=False)
    page.keyboard.press("Escape")

    # 11. a job whose model is no longer in the catalogue cannot be re-run
    page.route("**/v1/models", lambda route: route.fulfill(json=[]) if False else route.fulfill(
        status=200, content_type="application/json", body='[{"id": "other", "default": true, "source": "tiny", "available": true,'
        ' "family": "sd1", "licence": null, "random_weights": true, "capabilities": {"image_strength": true, "negative_prompt": true,'
        ' "schedulers": ["default"], "prompt_kind": "description"}, "commercial_use": {"allowed": true, "summary": ""}}]'))
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    page.get_by_role("button", name="History", exact=True).click()
    expect(items).to_have_count(2)
    expect(items.first.get_by_role("button", name=re.compile("^Re-run job"))).to_be_disabled()
    expect(items.first.locator(".model-gone")).to_contain_text("the model tiny is no longer on this server")
    watched.assert_clean()


def test_sweep_cards_show_their_own_value_a_job_deletes_with_undo_and_an_acknowledgement_survives_a_reload(
        page: Page, watched, fresh, astronaut_jpeg, coffee_png):
    with fresh.client() as api:
        upload = api.post("/v1/uploads", files={"file": ("astronaut.jpg", astronaut_jpeg.read_bytes(), "image/jpeg")}).json()
        sweep = api.post("/v1/sweeps", json={"upload_id": upload["id"], "prompt": "a", "steps": 4, "seed": 5,
                                             "sweep": {"field": "image_strength", "values": [0.25, 0.5]}}).json()
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{fresh.url}/?photo={upload['id']}&job={sweep['id']}#create")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("#review-summary")).to_contain_text("sweep of image strength: 0.25, 0.5")
    values = page.locator("#results .result .sweep-value")
    expect(values).to_have_count(2, timeout=GEN_MS)
    expect(values.nth(0)).to_have_text("Image strength 0.25")
    expect(values.nth(1)).to_have_text("Image strength 0.5")

    # 6. delete a whole job, undo, delete again: gone on the server, the photo stays
    page.get_by_role("button", name="Delete this job").click()
    expect(page.locator("#review-body")).to_be_hidden()
    page.locator(".notice.undo").get_by_role("button", name="Undo").click()
    expect(page.locator("#review-body")).to_be_visible()
    page.get_by_role("button", name="Delete this job").click()
    expect(page.locator("#review-empty")).to_be_visible(timeout=15_000)
    with fresh.client() as api:
        assert api.get(f"/v1/jobs/{sweep['id']}").status_code == 404
        assert api.get(f"/v1/uploads/{upload['id']}").status_code == 200
        blocked = api.post("/v1/uploads", params={"use": "headshot"},
                           files={"file": ("coffee.png", coffee_png.read_bytes(), "image/png")}).json()
    assert blocked["preflight"]["level"] == "block"

    # 3. an acknowledged blocking finding survives a reload; the address picks the photo
    page.goto(f"{fresh.url}/?photo={blocked['id']}#create")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("#thumbs .thumb.selected")).to_have_attribute("data-upload", blocked["id"])
    page.fill("#prompt", "a")
    expect(page.locator("#generate")).to_be_disabled()
    page.get_by_label("I have read the blocking findings").check()
    expect(page.locator("#generate")).to_be_enabled()
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.get_by_label("I have read the blocking findings")).to_be_checked()
    expect(page.locator("#generate")).to_be_enabled()
    watched.assert_clean()
