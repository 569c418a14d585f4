"""Existing clients against a real `photogen serve`, changing only their base URL (and key): the how-to's own script,
run verbatim; the official OpenAI SDK; webuiapi, a client of AUTOMATIC1111's API; and sd-parsers reading the PNG
parameters the way tools that read Stable Diffusion metadata do. One server for the module, with the tiny models."""

from __future__ import annotations

import ast
import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.serving import serve_process

WAIT_S = 900  # only catches a server that hangs: a loaded 2-core machine runs the tiny models slowly

# The how-to's script, verbatim (its "A simple Python request pattern"); the test changes API_URL and API_KEY only.
HOW_TO_SCRIPT = '''\
import base64
import requests

API_URL = "https://api.example.com/v1/image-to-image"
API_KEY = "YOUR_API_KEY"

with open("source.jpg", "rb") as f:
    image_b64 = base64.b64encode(f.read()).decode("utf-8")

payload = {
    "prompt": "Professional headshot, neutral studio background, soft daylight, preserve facial identity",
    "image": image_b64,
    "image_strength": 0.75,
    "seed": 1234,
    "aspect_ratio": "4:5"
}

headers = {
    "Authorization": f"Bearer {API_KEY}",
    "Content-Type": "application/json"
}

response = requests.post(API_URL, json=payload, headers=headers)
result = response.json()

print(result)
'''


@dataclass
class Served:
    url: str
    key: str
    home: Path

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", headers={"Authorization": f"Bearer {self.key}"}, timeout=60)


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, tiny, models):
    """`photogen serve` with keys (alice's), the tiny SD model as default and the tiny FLUX.2 [klein] as `klein`;
    its waits are long enough that a loaded machine still answers within them."""
    models.get("tiny-flux2-klein")  # built once in the shared models folder
    home = tmp_path_factory.mktemp("compat") / "home"
    home.mkdir()
    (home / "models").symlink_to(settings.models_dir)
    env = {**os.environ, "PHOTOGEN_HOME": str(home), "PHOTOGEN_DEVICE": "cpu", "PHOTOGEN_OFFLINE": "1",
           "PHOTOGEN_MODELS": json.dumps({"klein": "tiny-flux2-klein"}),
           "PHOTOGEN_SYNC_WAIT_S": str(WAIT_S), "PHOTOGEN_SYNC_WAIT_MAX_S": str(WAIT_S)}
    created = subprocess.run([sys.executable, "-m", "photogen", "keys", "create", "--owner", "alice"], env=env,
                             capture_output=True, text=True, timeout=300)
    assert created.returncode == 0, created.stderr
    with serve_process(env, log=home / "serve.log") as process:
        yield Served(process.url, created.stdout.strip(), home)


@pytest.fixture(scope="module")
def reference_png(tmp_path_factory) -> Path:
    from skimage import data

    path = tmp_path_factory.mktemp("photos") / "coffee.png"
    Image.fromarray(data.coffee()).resize((200, 150)).save(path)
    return path


def png_of(b64: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    assert image.format == "PNG"
    image.load()
    return image


def test_the_how_to_script_runs_with_only_its_url_and_key_changed(server, astronaut_jpeg, tmp_path):
    script = HOW_TO_SCRIPT
    for line, ours in (('API_URL = "https://api.example.com/v1/image-to-image"',
                        f'API_URL = "{server.url}/v1/image-to-image"'),
                       ('API_KEY = "YOUR_API_KEY"', f'API_KEY = "{server.key}"')):
        assert script.count(line) == 1
        script = script.replace(line, ours)
    (tmp_path / "source.jpg").write_bytes(astronaut_jpeg.read_bytes())
    (tmp_path / "script.py").write_text(script)
    ran = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, capture_output=True, text=True, timeout=WAIT_S)
    assert ran.returncode == 0, ran.stderr
    result = ast.literal_eval(ran.stdout.strip())  # what `print(result)` printed
    job = result["job"]
    assert job["state"] == "succeeded" and job["via"]["path"] == "/v1/image-to-image"
    assert (job["request"]["image_strength"], job["request"]["aspect_ratio"]) == (0.75, "4:5")
    (image,) = result["images"]
    assert image["seed"] == 1234 and image["finish_reason"] == "SUCCESS"
    picture = png_of(image["base64"])
    assert abs(picture.width / picture.height - 4 / 5) < 0.05
    assert "Seed: 1234" in picture.text["parameters"]
    downloaded = server.get(image["url"].removeprefix(server.url))
    assert downloaded.status_code == 200 and downloaded.content == base64.b64decode(image["base64"])


def test_a_job_past_the_wait_answers_202_and_its_location_leads_to_the_result(server, astronaut_jpeg):
    import requests

    payload = {"prompt": "studio headshot", "image": base64.b64encode(astronaut_jpeg.read_bytes()).decode(),
               "image_strength": 0.6, "seed": 7, "aspect_ratio": "1:1", "steps": 4}
    headers = {"Authorization": f"Bearer {server.key}", "Prefer": "respond-async"}
    response = requests.post(f"{server.url}/v1/image-to-image", json=payload, headers=headers, timeout=60)
    assert response.status_code == 202 and response.headers["Preference-Applied"] == "respond-async"
    location = response.headers["Location"]
    assert location == f"/v1/jobs/{response.json()['job']['id']}"
    deadline = time.monotonic() + WAIT_S
    while (job := server.get(location).json())["state"] not in ("succeeded", "failed", "canceled"):
        assert time.monotonic() < deadline, job
        time.sleep(0.5)
    assert job["state"] == "succeeded"
    assert [a["seed"] for a in job["assets"] if a["kind"] == "output"] == [7]


def test_the_openai_sdk_edits_one_image_and_two(server, astronaut_jpeg, reference_png):
    from openai import OpenAI

    client = OpenAI(base_url=f"{server.url}/v1", api_key=server.key, max_retries=0, timeout=WAIT_S)
    with open(astronaut_jpeg, "rb") as photo:
        one = client.images.edit(image=photo, prompt="a studio portrait", n=2)
    assert [item.revised_prompt for item in one.data] == ["a studio portrait"] * 2
    first, second = (png_of(item.b64_json) for item in one.data)
    assert first.size == second.size and f"{first.width}x{first.height}" == one.size
    assert first.tobytes() != second.tobytes()  # two seeds, two pictures
    with open(astronaut_jpeg, "rb") as photo, open(reference_png, "rb") as reference:
        two = client.images.edit(model="klein", image=[photo, reference], prompt="make the coat red",
                                 response_format="url", user="customer-42")
    (item,) = two.data
    downloaded = httpx.get(item.url, headers={"Authorization": f"Bearer {server.key}"}, timeout=60)
    assert downloaded.status_code == 200
    record = json.loads(Image.open(io.BytesIO(downloaded.content)).text["photogen"])
    assert record["model"]["family"] == "flux2-klein"  # an instruction edit: no image strength
    assert record["request"]["references"] == [hashlib.sha256(reference_png.read_bytes()).hexdigest()]
    with open(astronaut_jpeg, "rb") as photo:
        jpeg = client.images.edit(image=photo, prompt="a studio portrait", output_format="jpeg")
    assert jpeg.output_format == "jpeg"
    assert Image.open(io.BytesIO(base64.b64decode(jpeg.data[0].b64_json))).format == "JPEG"


def test_the_openai_sdk_reads_photogen_errors_as_its_own(server, astronaut_jpeg, reference_png):
    import openai

    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.key, max_retries=0, timeout=WAIT_S)
    with open(astronaut_jpeg, "rb") as photo, open(reference_png, "rb") as reference, \
            pytest.raises(openai.BadRequestError) as refused:
        client.images.edit(image=[photo, reference], prompt="x")  # the default model takes no reference image
    assert refused.value.code == "unsupported_control" and refused.value.param == "image"
    stranger = openai.OpenAI(base_url=f"{server.url}/v1", api_key="pg_not_a_key", max_retries=0)
    with open(astronaut_jpeg, "rb") as photo, pytest.raises(openai.AuthenticationError):
        stranger.images.edit(image=photo, prompt="x")


def test_webuiapi_runs_img2img_reads_the_seeds_back_and_sd_parsers_reads_the_parameters(server, astronaut_jpeg):
    import webuiapi
    from sd_parsers import ParserManager

    api = webuiapi.WebUIApi(baseurl=f"{server.url}/sdapi/v1", username="alice", password=server.key)
    prompt, negative = "a portrait photo, soft light", "blurry, low quality"
    result = api.img2img(images=[Image.open(astronaut_jpeg)], prompt=prompt, negative_prompt=negative, seed=4242,
                         steps=6, cfg_scale=6.5, denoising_strength=0.5, width=128, height=160,
                         sampler_name="DPM++ 2M", batch_size=2)
    assert result.info["all_seeds"] == [4242, 4243] and result.info["seed"] == 4242
    assert [image.size for image in result.images] == [(128, 160)] * 2
    assert result.parameters["prompt"] == prompt and result.parameters["init_images"] is None
    assert {model["title"] for model in api.get_sd_models()} == {"tiny", "klein"}
    assert "DPM++ 2M" in [sampler["name"] for sampler in api.get_samplers()]
    assert api.get_progress()["state"]["job_count"] == 0  # nothing of alice's through this API still runs
    assert api.interrupt() == {}

    png = base64.b64decode(result.json["images"][0])
    parsed = ParserManager().parse(io.BytesIO(png))
    assert parsed is not None and parsed.generator.name == "AUTOMATIC1111"
    (sampler,) = parsed.samplers
    assert [str(p) for p in sampler.prompts] == [prompt]
    assert [str(p) for p in sampler.negative_prompts] == [negative]
    assert sampler.name == "DPM++ 2M"
    assert (sampler.parameters["seed"], sampler.parameters["steps"], sampler.parameters["cfg_scale"]) == \
        ("4242", "6", "6.5")
    assert parsed.metadata["Size"] == "128x160"
