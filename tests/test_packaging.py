"""The install roles: the base installs everything (one machine); `server` is an API node without engines."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
ENGINE_LIBRARIES = {"torch", "diffusers", "transformers", "accelerate", "safetensors", "huggingface-hub"}


def _names(requirements: list[str]) -> set[str]:
    return {Requirement(line).name.lower() for line in requirements}


def test_the_base_installs_the_server_and_the_worker_sets_together():
    extras = PROJECT["optional-dependencies"]
    assert sorted(PROJECT["dependencies"]) == sorted(extras["server"] + extras["worker"])
    assert extras["all"] == ["photogen[server,worker]"]


def test_the_server_set_holds_no_engine_library_and_the_worker_set_holds_them_all():
    extras = PROJECT["optional-dependencies"]
    assert not _names(extras["server"]) & ENGINE_LIBRARIES
    assert ENGINE_LIBRARIES <= _names(extras["worker"])


def test_the_api_node_requirements_file_is_the_server_extra():
    lines = (ROOT / "deploy" / "requirements-server.txt").read_text().splitlines()
    listed = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert sorted(listed) == sorted(PROJECT["optional-dependencies"]["server"])
