"""Recipes: built-ins, owners' versions, diffs, and jobs that remember recipe@version."""

from tests.api.conftest import wait_for

MINE = {"title": "My headshot", "prompt": "corporate headshot, {details}, grey backdrop", "image_strength": 0.6,
        "strength_range": [0.5, 0.7], "crop_preset": "headshot"}


def upload(api, data):
    return api.post("/v1/uploads", files={"file": ("a.jpg", data, "image/jpeg")}).json()["id"]


def test_builtin_recipes_are_listed_with_their_cues(api):
    recipes = {r["name"]: r for r in api.get("/v1/recipes").json()}
    assert {"headshot", "polished-portrait", "restoration", "product-hero", "avatar-adventurer", "avatar-office"} <= set(recipes)
    headshot = recipes["headshot"]
    assert headshot["builtin"] and headshot["ref"] == "headshot@1"
    assert "preserve facial identity" in headshot["prompt"] and "neutral studio background" in headshot["prompt"]
    low, high = headshot["strength_range"]
    assert low <= headshot["image_strength"] <= high
    assert "keep the product's shape" in recipes["product-hero"]["prompt"]
    response = api.put("/v1/recipes/headshot", json=MINE)
    assert response.status_code == 409 and response.json()["error"]["code"] == "recipe_name_taken"


def test_editing_makes_a_new_version_and_old_jobs_keep_the_old_one(api, astronaut_bytes):
    first = api.put("/v1/recipes/my-headshot", json=MINE)
    assert first.status_code == 201 and first.json()["ref"] == "my-headshot@1"
    upload_id = upload(api, astronaut_bytes)
    old_job = api.post("/v1/generations", json={"recipe": "my-headshot", "prompt": "navy blazer", "upload_id": upload_id,
                                                "steps": 4, "seed": 5}).json()
    assert old_job["request"]["recipe"] == "my-headshot@1"
    assert old_job["request"]["prompt"] == "corporate headshot, navy blazer, grey backdrop"
    assert old_job["request"]["image_strength"] == 0.6 and old_job["request"]["crop_preset"] == "headshot"

    second = api.put("/v1/recipes/my-headshot", json={**MINE, "prompt": "executive headshot, {details}, dark backdrop"}).json()
    assert second["version"] == 2
    new_job = api.post("/v1/generations", json={"recipe": "my-headshot", "prompt": "navy blazer", "upload_id": upload_id,
                                                "steps": 4, "seed": 5, "image_strength": 0.7}).json()
    assert new_job["request"]["recipe"] == "my-headshot@2" and new_job["request"]["image_strength"] == 0.7
    assert api.get(f"/v1/jobs/{old_job['id']}").json()["request"]["recipe"] == "my-headshot@1"
    pinned = api.post("/v1/generations", json={"recipe": "my-headshot@1", "prompt": "x", "upload_id": upload_id, "steps": 4}).json()
    assert pinned["request"]["prompt"].startswith("corporate headshot")
    diff = api.get("/v1/recipes/my-headshot/diff?from=1&to=2").json()
    assert diff["changes"] == [{"field": "prompt", "from": MINE["prompt"], "to": "executive headshot, {details}, dark backdrop"}]
    assert [v["version"] for v in api.get("/v1/recipes/my-headshot/versions").json()] == [1, 2]
    assert api.get("/v1/recipes/my-headshot?version=1").json()["prompt"] == MINE["prompt"]
    assert wait_for(api, old_job["id"])["state"] == "succeeded"


def test_recipe_errors(api):
    assert api.get("/v1/recipes/nope").status_code == 404
    bad = api.put("/v1/recipes/Bad Name!", json=MINE)
    assert bad.status_code == 422 and "not valid" in bad.json()["error"]["message"]
    outside = api.put("/v1/recipes/ok-name", json={**MINE, "image_strength": 0.9})
    assert outside.status_code in (400, 422) and "outside its recommended range" in outside.json()["error"]["message"]
    missing = api.post("/v1/generations", json={"recipe": "nope", "prompt": "x", "image": "aGk="})
    assert missing.status_code == 404


def test_other_owners_recipes_are_invisible(api, container_of):
    keys = container_of(api).keys
    alice, bob = keys.create("alice").key, keys.create("bob").key
    api.put("/v1/recipes/secret-sauce", json=MINE, headers={"Authorization": f"Bearer {alice}"})
    assert api.get("/v1/recipes/secret-sauce", headers={"Authorization": f"Bearer {bob}"}).status_code == 404
    names = {r["name"] for r in api.get("/v1/recipes", headers={"Authorization": f"Bearer {bob}"}).json()}
    assert "secret-sauce" not in names and "headshot" in names
