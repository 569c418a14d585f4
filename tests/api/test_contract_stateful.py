"""A short stateful schemathesis run: chains of calls (upload -> generation -> job -> cancel, ...) following
the spec's links, each answer checked for 5xx and against the response schema."""

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from photogen.api.app import create_app
from photogen.config import Settings

# No worker: submitted jobs stay queued, so no model is needed and every step stays fast (the paths that wait
# for their job answer at once).
_home = Path(tempfile.mkdtemp(prefix="photogen-stateful-"))
app = create_app(Settings(home=_home, device="cpu", offline=True, worker_enabled=False, webhook_secret="s",
                          sync_wait_s=0, sync_wait_max_s=0,
                          allowed_hosts=["testserver", "localhost"]))
# Links come from the spec's response fields (schemathesis 4 infers them: an upload's id feeds
# generations, a job's id feeds cancel, vary, replay...). The live event stream of a job that never
# runs would not end, so it stays out.
schema = schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path_regex=r"/events$")
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


class ApiWorkflows(schema.as_state_machine()):
    def setup(self) -> None:
        """One real photo to start chains from (random bytes are never a photo)."""
        if not self.__class__.photo_ready:
            import io

            from PIL import Image
            from skimage import data

            buffer = io.BytesIO()
            Image.fromarray(data.astronaut()).resize((128, 128)).save(buffer, "JPEG")
            app.state.container.uploads.create("local", buffer.getvalue(), "seed.jpg")
            self.__class__.photo_ready = True

    photo_ready = False

    def validate_response(self, response, case, additional_checks=None, **kwargs) -> None:
        case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs or None)


TestApiWorkflows = ApiWorkflows.TestCase
TestApiWorkflows.settings = settings(max_examples=8, stateful_step_count=5, deadline=None,
                                     suppress_health_check=list(HealthCheck))
