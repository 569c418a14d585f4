"""An API node (`serve --no-worker`) serves requests without torch, diffusers or transformers in memory,
and loads OpenCV only when an upload is analysed."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from tests.serving import serve_process

TORCH_LIBRARIES = ("libtorch", "torch/_C", "libc10")


def _mapped_files(pid: int) -> set[str]:
    """Every file the process has mapped: its loaded shared libraries among them."""
    lines = Path(f"/proc/{pid}/maps").read_text().splitlines()
    return {line.split()[-1] for line in lines if len(line.split()) >= 6}


def _png() -> bytes:
    pixels = np.random.default_rng(0).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


def test_an_api_node_maps_no_torch_library_while_serving(tmp_path):
    env = {**os.environ, "PHOTOGEN_HOME": str(tmp_path / "home"), "PHOTOGEN_DEVICE": "cpu",
           "PHOTOGEN_OFFLINE": "1"}
    with serve_process(env, "--no-worker", log=tmp_path / "serve.log") as server:
        for path in ("/v1/health", "/v1/uploads", "/v1/jobs", "/v1/models"):
            assert httpx.get(server.url + path, timeout=30).status_code == 200, path
        mapped = _mapped_files(server.process.pid)
        assert not [f for f in mapped if "cv2" in f], "OpenCV loaded before any upload"
        answer = httpx.post(server.url + "/v1/uploads", files={"file": ("a.png", _png(), "image/png")}, timeout=60)
        assert answer.status_code == 201, answer.text
        mapped = _mapped_files(server.process.pid)
        assert [f for f in mapped if "cv2" in f], "the upload was analysed without OpenCV"
        assert not [f for f in mapped if any(lib in f for lib in TORCH_LIBRARIES)]


CHECK_IN_PROCESS = """
import io, sys
import numpy as np
from PIL import Image
from fastapi.testclient import TestClient
from photogen.api.app import create_app
from photogen.config import Settings

app = create_app(Settings(home=sys.argv[1], device="cpu", offline=True))
buf = io.BytesIO()
Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(buf, "PNG")
with TestClient(app, base_url="http://127.0.0.1") as client:
    codes = [client.get(p).status_code for p in ("/v1/health", "/v1/uploads", "/v1/jobs", "/v1/models")]
    codes.append(client.post("/v1/uploads", files={"file": ("a.png", buf.getvalue(), "image/png")}).status_code)
print(codes, sorted(m for m in ("torch", "diffusers", "transformers", "accelerate") if m in sys.modules))
"""


def test_an_api_node_imports_no_engine_library(tmp_path):
    env = {**os.environ, "PHOTOGEN_WORKER_ENABLED": "false"}
    result = subprocess.run([sys.executable, "-c", CHECK_IN_PROCESS, str(tmp_path)], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[200, 200, 200, 200, 201] []"
