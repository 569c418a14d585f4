"""CPU inference on a loaded machine: torch's default OpenMP threads against photogen's settings.

    .venv/bin/python bench/cpu_load.py            # about 2-5 min on 2 cores
    .venv/bin/python bench/cpu_load.py --reps 5

torch's default OpenMP threads spin while they wait. When other processes want the same cores, the spinning
threads and the other work take the cores from each other. This runs the tiny model's UNet forward pass and
one small generation in four configurations:

  torch defaults, idle        a fresh process, nothing set: what `python -c "import torch"` gets
  torch defaults, loaded      the same while one busy process per usable core runs beside it
  photogen, idle / loaded     the same after photogen.runtime.configure_cpu_threads() (OMP_WAIT_POLICY=PASSIVE
                              and cores - 1 intra-op threads), as `photogen` and the tests call it

Each configuration runs in a fresh subprocess, so its environment applies before torch is imported. Prints a
table and writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
CONFIGS = ("torch defaults", "photogen")
THREAD_VARIABLES = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "PHOTOGEN_CPU_THREADS")
CHILD_LIMIT_S = 900


def child(config: str, home: str, reps: int) -> dict:
    """One configuration, measured in this (fresh) process."""
    if config == "photogen":
        from photogen.runtime import configure_cpu_threads

        configure_cpu_threads()
    import torch
    from PIL import Image

    from photogen.config import Settings
    from photogen.domain.params import GenerationRequest
    from photogen.engines.base import PreparedRequest
    from photogen.engines.loader import load_generator

    generator = load_generator("tiny", Settings(home=Path(home), device="cpu", dtype="float32", offline=True))
    unet = generator.pipeline.unet
    # 1. one UNet forward: a guided pair of 64 px images (latents 2 x 4 x 32 x 32)
    sample = torch.randn(2, 4, 32, 32, generator=torch.Generator().manual_seed(0))
    text = torch.randn(2, 77, unet.config.cross_attention_dim, generator=torch.Generator().manual_seed(1))
    forwards = []
    with torch.inference_mode():
        unet(sample, 10, encoder_hidden_states=text)  # warm-up
        for _ in range(reps):
            started = time.perf_counter()
            unet(sample, 10, encoder_hidden_states=text)
            forwards.append(time.perf_counter() - started)
    # 2. one generation at the model's native 128 px: 8 steps at image strength 0.5 (4 denoising steps)
    request = GenerationRequest.parse({"prompt": "a photo", "steps": 8, "image_strength": 0.5, "seed": 1,
                                       "width": 128, "height": 128})
    image = Image.new("RGB", (128, 128), (120, 90, 60))
    started = time.perf_counter()
    generator.generate([PreparedRequest(request, image)])
    generation = time.perf_counter() - started
    return {
        "config": config,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset (active)"),
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "unet_forward_s": forwards,
        "unet_forward_median_s": statistics.median(forwards),
        "generation_4_steps_s": generation,
    }


def hogs(count: int) -> list[subprocess.Popen]:
    """One busy Python process per core: the other work a shared machine runs."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def run(config: str, loaded: bool, home: str, reps: int, cores: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    busy = hogs(cores) if loaded else []
    try:
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, __file__, "--child", config, "--home", home, "--reps", str(reps)],
            env=env, capture_output=True, text=True, timeout=CHILD_LIMIT_S,
        )
        wall = time.perf_counter() - started
    except subprocess.TimeoutExpired:
        return {"config": config, "loaded": loaded, "error": f"over {CHILD_LIMIT_S} s"}
    finally:
        for process in busy:
            process.kill()
            process.wait()
    if done.returncode != 0:
        return {"config": config, "loaded": loaded, "error": done.stderr.strip().splitlines()[-1:]}
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "loaded": loaded, "process_wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="UNet forward passes timed per configuration")
    parser.add_argument("--child", choices=CONFIGS, help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.home, args.reps)))
        return

    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="photogen-bench-") as home:
        # build the tiny model once, outside the timed processes
        subprocess.run([sys.executable, __file__, "--child", "photogen", "--home", home, "--reps", "1"],
                       check=True, capture_output=True)
        rows = [run(config, loaded, home, args.reps, cores) for loaded in (False, True) for config in CONFIGS]

    print(f"{'configuration':<28}{'wait policy':<16}{'threads':>8}{'UNet forward':>14}{'generation':>12}")
    for row in rows:
        name = f"{row['config']}, {'loaded' if row['loaded'] else 'idle'}"
        if "error" in row:
            print(f"{name:<28}error: {row['error']}")
            continue
        print(f"{name:<28}{row['omp_wait_policy']:<16}{row['threads']:>8}"
              f"{row['unet_forward_median_s']:>13.3f}s{row['generation_4_steps_s']:>11.2f}s")
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"cpu_load-{stamp}.json"
    path.write_text(json.dumps({"machine": {"cores": cores, "platform": platform.platform(),
                                            "python": platform.python_version()},
                                "hog": f"{cores} busy process(es), one per usable core", "rows": rows}, indent=2))
    print(f"results: {path}")


if __name__ == "__main__":
    main()
