"""A bounded schemathesis run against the live OpenAPI spec: no input makes the server fail (5xx), and every error
comes in its API's shape (photogen's own; OpenAI's on /v1/images/; AUTOMATIC1111's on /sdapi/)."""

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from photogen.api.app import create_app
from photogen.config import Settings

# No worker: submitted jobs stay queued, so no model is needed and every example stays fast (the paths that
# wait for their job answer at once).
_home = Path(tempfile.mkdtemp(prefix="photogen-contract-"))
app = create_app(Settings(home=_home, device="cpu", offline=True, worker_enabled=False, webhook_secret="s",
                              sync_wait_s=0, sync_wait_max_s=0,
                              allowed_hosts=["testserver", "localhost"]))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_the_server_fail(case):
    response = case.call()
    if response.status_code == 504:  # a path that waits for its job, answered as it may be (no worker runs here)
        assert "job_still_running" in response.text and case.path in ("/v1/images/edits", "/sdapi/v1/img2img")
    else:
        assert response.status_code < 500, f"{case.method} {case.path} -> {response.status_code}: {response.text[:300]}"
    content_type = (response.headers.get("content-type") or [""])[0]  # schemathesis keeps header lists
    if response.status_code >= 400 and content_type.startswith("application/json"):
        assert error_keys(case.path, response.json()) == EXPECTED_ERROR_KEYS[api_of(case.path)], response.text[:300]


EXPECTED_ERROR_KEYS = {"openai": {"message", "type", "param", "code"}, "sdapi": {"error", "detail", "body", "errors"},
                       "photogen": {"code", "message", "hint"}}


def api_of(path: str) -> str:
    return "openai" if path.startswith("/v1/images/") else "sdapi" if path.startswith("/sdapi/") else "photogen"


def error_keys(path: str, body: dict) -> set[str]:
    return set(body) if api_of(path) == "sdapi" else set(body["error"])
