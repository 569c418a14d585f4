"""CPU thread settings for inference, chosen once by each entry point before torch is imported.

torch's default OpenMP threads spin while they wait for work. On a small machine that runs anything else,
the spinning threads and the other work take the cores from each other: one tiny-UNet forward pass went
from 0.05 s to 2.9 s on 2 busy cores. Passive waiting (`OMP_WAIT_POLICY=PASSIVE`) and an intra-op thread
count below the cores this process may use remove that.

Entry points (`photogen.cli.main`, the test suite's conftest) call `configure_cpu_threads()` first thing;
importing this module changes nothing.
"""

from __future__ import annotations

import os
import sys
import logging

THREADS_SETTING = "PHOTOGEN_CPU_THREADS"


def usable_cores() -> int:
    """Cores this process may run on (its affinity, which containers and taskset narrow), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def default_threads(cores: int) -> int:
    """Intra-op threads: one core is left to the server, the event loop and the other work; at most 8."""
    return max(1, min(8, cores - 1))


def configure_cpu_threads(environ: dict[str, str] | None = None) -> dict[str, object]:
    """Set the OpenMP wait policy and the intra-op thread count; values the user set are kept.

    `PHOTOGEN_CPU_THREADS` chooses the thread count, else `OMP_NUM_THREADS` if set, else `default_threads`.
    Before torch is imported this works through the environment, which OpenMP reads once at start; after,
    only the thread count can still change (through torch.set_num_threads), and a warning says so.
    Returns what was chosen and how.
    """
    env = os.environ if environ is None else environ
    threads_text = env.get(THREADS_SETTING) or env.get("OMP_NUM_THREADS")
    try:
        threads = max(1, int(threads_text)) if threads_text else default_threads(usable_cores())
    except ValueError:
        threads = default_threads(usable_cores())
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(threads)
        logging.getLogger("photogen.runtime").warning(
            "torch was imported before the CPU threads were set: %d intra-op threads through "
            "torch.set_num_threads; the OpenMP wait policy stays %s",
            threads, env.get("OMP_WAIT_POLICY", "torch's default (active)"),
        )
        return {"threads": threads, "how": "torch.set_num_threads"}
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env[THREADS_SETTING] = str(threads)
    env["OMP_NUM_THREADS"] = str(threads)
    env.setdefault("MKL_NUM_THREADS", str(threads))
    return {"omp_wait_policy": env["OMP_WAIT_POLICY"], "threads": threads, "how": "environment"}


def cpu_threads() -> dict[str, object]:
    """The settings in force, for `ModelInfo.extra`; call it once torch is imported."""
    import torch

    return {
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset (torch's default: active)"),
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
    }
