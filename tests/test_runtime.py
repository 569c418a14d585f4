"""CPU thread settings are chosen before torch loads, keep what the user set, and are recorded."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from photogen.runtime import configure_cpu_threads, default_threads

PROBE = (
    "import json, os; from photogen.runtime import configure_cpu_threads; chosen = configure_cpu_threads(); "
    "import torch; print(json.dumps({'chosen': chosen, 'policy': os.environ.get('OMP_WAIT_POLICY'), "
    "'threads': torch.get_num_threads()}))"
)


def probe(**env_values: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "PHOTOGEN_CPU_THREADS")}
    env.update(env_values)
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_threads_and_wait_policy_are_set_before_torch_loads():
    result = probe(PHOTOGEN_CPU_THREADS="1")
    assert result["policy"] == "PASSIVE" and result["threads"] == 1
    assert result["chosen"]["how"] == "environment"


def test_what_the_user_set_is_kept():
    result = probe(OMP_WAIT_POLICY="ACTIVE", OMP_NUM_THREADS="2")
    assert result["policy"] == "ACTIVE" and result["threads"] == 2


def test_the_default_leaves_a_core_free():
    assert [default_threads(n) for n in (1, 2, 4, 16, 64)] == [1, 1, 3, 8, 8]


def test_after_torch_loads_only_the_thread_count_changes(caplog):
    import torch

    before = torch.get_num_threads()
    try:
        chosen = configure_cpu_threads({"PHOTOGEN_CPU_THREADS": "1"})
        assert chosen["how"] == "torch.set_num_threads" and torch.get_num_threads() == 1
        assert "torch was imported before" in caplog.text
    finally:
        torch.set_num_threads(before)


def test_the_settings_in_force_are_in_the_model_info(tiny):
    recorded = tiny.info.extra["cpu_threads"]
    assert recorded["omp_wait_policy"] == os.environ["OMP_WAIT_POLICY"]  # the test session set it first
    assert recorded["threads"] >= 1 and recorded["interop_threads"] >= 1
