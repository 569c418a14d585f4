"""The command line has the server's time limit: a run past PHOTOGEN_JOB_TIMEOUT_S stops mid-step."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from photogen.domain.params import GenerationRequest
from photogen.engines.interrupt import Deadline, JobTimedOut
from photogen.services.generation import GenerationService, Source


def test_a_deadline_raises_job_timeout_only_once_it_has_passed():
    now = [100.0]
    deadline = Deadline(5.0, clock=lambda: now[0])
    now[0] = 104.9
    deadline()  # within the limit: nothing happens
    now[0] = 105.1
    with pytest.raises(JobTimedOut) as raised:
        deadline()
    assert raised.value.code == "job_timeout" and "5 s" in raised.value.message
    Deadline(None, clock=lambda: 1e12)()  # no limit


def test_a_generation_past_the_limit_stops_with_job_timeout(settings, models, astronaut_jpeg, tmp_path):
    limited = settings.model_copy(update={"job_timeout_s": 1e-6})
    service = GenerationService(limited, models)
    steps = []
    request = GenerationRequest(prompt="a", steps=20, image_strength=0.0, seed=1)
    with pytest.raises(JobTimedOut):
        service.generate(Source.from_path(astronaut_jpeg, limited), request, tmp_path,
                         on_step=lambda done, total: steps.append(done))
    assert steps == [] and not list(tmp_path.iterdir())  # stopped inside the first step, nothing written


def test_the_upscale_command_stops_at_the_limit(photogen_home, tiny, astronaut_jpeg, tmp_path):
    env = {**os.environ, "PHOTOGEN_HOME": str(photogen_home), "PHOTOGEN_DEVICE": "cpu", "PHOTOGEN_OFFLINE": "1",
           "PHOTOGEN_JOB_TIMEOUT_S": "0.000001"}
    out = tmp_path / "x2.png"
    done = subprocess.run(
        [sys.executable, "-m", "photogen", "upscale", str(astronaut_jpeg), "--factor", "2",
         "--method", "tiled_refine", "--model", "tiny", "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert done.returncode == 2 and "error [job_timeout]" in done.stderr, done.stderr[-500:]
    assert not out.exists()
