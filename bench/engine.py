"""photogen's engine against plain diffusers on the same random weights: SD 1.5 and SDXL img2img, and the
instruction-edit models FLUX.2 [klein] 4B and FLUX.1 Kontext [dev].

    .venv/bin/python bench/engine.py --gpu     # CUDA: full-size SD 1.5 at 512x512 and SDXL at 1024x1024
    .venv/bin/python bench/engine.py --tiny    # the same code on tiny configs: a CPU smoke run (~2 min)
    .venv/bin/python bench/engine.py --gpu --models flux2-klein,flux-kontext --clients 8   # edit rows, 1024x1024
    .venv/bin/python bench/engine.py --tiny --models flux2-klein,flux-kontext --clients 8  # their tiny rows

Without --gpu or --tiny it runs full-size where CUDA is, tiny elsewhere.

Workload (../shared/PERFORMANCE.md): image-to-image, 40 scheduler steps at strength 0.75 (30 denoising
steps), classifier-free guidance on. Random weights cost what trained ones cost. For each model:

  diffusers, 1 per call         the stock pipeline, one request at a time (what A1111, ComfyUI, IOPaint deliver)
  diffusers, N per call         the stock pipeline, one prompt x N images: its best case
  photogen, 1 request           our engine alone: single-request latency
  photogen, C clients           C concurrent requests (different prompts, seeds and guidance) through a
                                batcher that groups by batch_key, as the server's worker does
  ... optimised                 the same after apply_optimizations (channels-last, fused QKV, torch.compile
                                with CUDA graphs, warmed per batch bucket before timing)

Share of the FLOP floor = images/s / (measured matmul rate / FLOPs per image), FLOPs counted with
FlopCounterMode. Prints a table and writes JSON to bench/results/.

Edit models (flux2-klein, flux-kontext; bench/edit_configs/ holds their full-size configs, the tiny rows use
photogen's tiny configs): one source at the model's native size (1024x1024 full-size) plus, for FLUX.2 [klein],
one reference image; EDIT_STEPS steps with the model's guidance (true CFG for klein base, embedded for Kontext).
Rows: the stock pipeline (Flux2KleinPipeline / FluxKontextPipeline, one request per call), photogen's generator
for one request, and C concurrent clients through the batcher. FLOPs per image are counted on the whole run of
one request (text encoder, VAE and every transformer step) and peak memory is CUDA's max allocated per row.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import threading
import time
from concurrent.futures import Future
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from photogen.domain.params import GenerationRequest
from photogen.engines.base import ModelInfo, PreparedRequest, batch_key
from photogen.engines.diffusers_img2img import DiffusersImg2ImgGenerator
from photogen.engines.optimize import EngineOptions, apply_optimizations, measure_memory

RESULTS = Path(__file__).resolve().parent / "results"
STEPS, STRENGTH, GUIDANCE = 40, 0.75, 7.5  # 30 denoising steps
CLIENT_GUIDANCE = (7.5, 5.0, 7.0, 9.0)  # concurrent clients differ in guidance too: it must not split batches
DEV = "cuda" if torch.cuda.is_available() else "cpu"
DTYPE = torch.float16 if DEV == "cuda" else torch.float32


def sync() -> None:
    if DEV == "cuda":
        torch.cuda.synchronize()


def timed(fn, reps: int) -> float:
    """Median seconds of `reps` calls after one untimed call."""
    fn()
    sync()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# ---------------------------------------------------------------------------------------- models


def build_pipeline(model: str, tiny: bool):
    """A diffusers img2img pipeline with random weights: photogen's bundled configs, or tiny ones."""
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionImg2ImgPipeline,
        StableDiffusionXLImg2ImgPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from photogen.engines.single_file import bundled_config_folder
    from photogen.engines.tokenizer import clip_tokenizer

    xl = model == "sdxl"
    folder = bundled_config_folder("sdxl-base" if xl else "sd15")
    torch.manual_seed(0)
    with torch.device(DEV):  # initialise on the device: seconds instead of minutes for SDXL
        if tiny:
            unet, vae, text, text_2 = _tiny_modules(xl)
        else:
            unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(folder / "unet"))
            vae = AutoencoderKL.from_config(AutoencoderKL.load_config(folder / "vae"))
            text = CLIPTextModel(CLIPTextConfig.from_json_file(folder / "text_encoder" / "config.json"))
            text_2 = (CLIPTextModelWithProjection(CLIPTextConfig.from_json_file(folder / "text_encoder_2" / "config.json"))
                      if xl else None)  # fmt: skip
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       num_train_timesteps=1000, timestep_spacing="leading", steps_offset=1)
    if xl:
        pipe = StableDiffusionXLImg2ImgPipeline(vae=vae, text_encoder=text, text_encoder_2=text_2,
                                                tokenizer=clip_tokenizer(), tokenizer_2=clip_tokenizer("!"), unet=unet,
                                                scheduler=scheduler, requires_aesthetics_score=False)
    else:
        pipe = StableDiffusionImg2ImgPipeline(vae=vae, text_encoder=text, tokenizer=clip_tokenizer(), unet=unet,
                                              scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                              requires_safety_checker=False)
    for module in (unet, vae, text, text_2):
        if module is not None:
            module.eval()
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(DEV, DTYPE)


def _tiny_modules(xl: bool):
    """The reference script's tiny shapes, with the real text widths (768; 768 + 1280 for SDXL)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    vae = AutoencoderKL(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=4,
                        scaling_factor=0.13025 if xl else 0.18215)

    def clip(hidden: int, heads: int, projection: bool):
        config = CLIPTextConfig(vocab_size=49408, hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=2,
                                num_attention_heads=heads, max_position_embeddings=77, hidden_act="quick_gelu",
                                projection_dim=hidden)
        return CLIPTextModelWithProjection(config) if projection else CLIPTextModel(config)

    common = {"sample_size": 32, "block_out_channels": (32, 64), "layers_per_block": 1, "norm_num_groups": 8}
    if xl:
        unet = UNet2DConditionModel(**common, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                    up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
                                    transformer_layers_per_block=(1, 2), attention_head_dim=(2, 4),
                                    cross_attention_dim=2048, addition_embed_type="text_time",
                                    addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816,
                                    use_linear_projection=True)
        return unet, vae, clip(768, 12, False), clip(1280, 20, True)
    unet = UNet2DConditionModel(**common, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=768,
                                attention_head_dim=8)
    return unet, vae, clip(768, 12, False), None


def native_side(pipe) -> int:
    return pipe.unet.config.sample_size * pipe.vae_scale_factor


def source_image(side: int) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8))


def photogen_generator(pipe, name: str, options: EngineOptions) -> tuple[DiffusersImg2ImgGenerator, dict]:
    applied = apply_optimizations(pipe, options, DEV)
    side = native_side(pipe)
    info = ModelInfo(name, "sdxl" if hasattr(pipe, "text_encoder_2") else "sd1", "bench", random_weights=True,
                     native_pixels=side * side, extra={"optimizations": applied})
    return DiffusersImg2ImgGenerator(pipe, info, DEV), applied


def requests(count: int, image: Image.Image) -> list[PreparedRequest]:
    side = image.size[0]
    return [
        PreparedRequest(GenerationRequest(prompt=f"a studio portrait, look {k}", negative_prompt="blurry", seed=k,
                                          steps=STEPS, image_strength=1 - STRENGTH, width=side, height=side,
                                          guidance=CLIENT_GUIDANCE[k % len(CLIENT_GUIDANCE)]), image)
        for k in range(count)
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------- load


class Batcher:
    """The worker's batching in process: what arrived within `window_s`, grouped by batch_key, at most
    `max_images` images per generate call."""

    def __init__(self, generator, max_images: int, window_s: float = 0.02) -> None:
        self._generator, self._max, self._window = generator, max_images, window_s
        self._queue: list[tuple[PreparedRequest, Future]] = []
        self._cond = threading.Condition()
        self._stop = False
        self.calls: list[int] = []  # images per generate call
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def submit(self, item: PreparedRequest) -> Future:
        future: Future = Future()
        with self._cond:
            self._queue.append((item, future))
            self._cond.notify()
        return future

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
            time.sleep(self._window)  # let concurrent arrivals join
            with self._cond:
                first = batch_key(self._queue[0][0])
                group, images = [], 0
                for entry in list(self._queue):
                    n = entry[0].request.num_images
                    if batch_key(entry[0]) == first and images + n <= self._max:
                        group.append(entry)
                        images += n
                        self._queue.remove(entry)
            self.calls.append(images)
            try:
                results = self._generator.generate([item for item, _ in group])
            except Exception as exc:  # hand the failure to every waiting client
                for _, future in group:
                    future.set_exception(exc)
                continue
            for (_, future), result in zip(group, results):
                future.set_result(result)


def concurrent_load(generator, items: list[PreparedRequest], max_images: int) -> dict:
    """`len(items)` clients submit at once and wait for their images; throughput and latency."""
    batcher = Batcher(generator, max_images)
    latencies: list[float] = []
    barrier = threading.Barrier(len(items) + 1)
    lock = threading.Lock()

    def client(item: PreparedRequest) -> None:
        barrier.wait()
        start = time.perf_counter()
        batcher.submit(item).result()
        with lock:
            latencies.append(time.perf_counter() - start)

    threads = [threading.Thread(target=client, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    sync()
    wall = time.perf_counter() - start
    batcher.close()
    latencies.sort()
    return {"images_per_s": len(items) / wall, "wall_s": wall, "p50_s": latencies[len(latencies) // 2],
            "p95_s": latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))], "batches": batcher.calls}


# ---------------------------------------------------------------------------------------- floor


def flops_per_image(pipe, side: int) -> dict[str, float]:
    """FLOPs of one image: 30 UNet CFG pairs, one VAE encode, one VAE decode."""
    from torch.utils.flop_counter import FlopCounterMode

    unet = pipe.unet
    latent = torch.randn(2, 4, side // pipe.vae_scale_factor, side // pipe.vae_scale_factor, device=DEV, dtype=DTYPE)
    text = torch.randn(2, 77, unet.config.cross_attention_dim, device=DEV, dtype=DTYPE)
    added = None
    if unet.config.addition_embed_type == "text_time":
        pooled = unet.add_embedding.linear_1.in_features - 6 * unet.config.addition_time_embed_dim
        added = {"text_embeds": torch.randn(2, pooled, device=DEV, dtype=DTYPE),
                 "time_ids": torch.tensor([[side, side, 0, 0, side, side]] * 2, device=DEV, dtype=DTYPE)}
    image = torch.rand(1, 3, side, side, device=DEV, dtype=DTYPE)

    def count(fn) -> float:
        with FlopCounterMode(display=False) as counter:
            fn()
        return float(counter.get_total_flops())

    with torch.inference_mode():
        pair = count(lambda: unet(latent, 500, encoder_hidden_states=text, added_cond_kwargs=added))
        encode = count(lambda: pipe.vae.encode(image))
        decode = count(lambda: pipe.vae.decode(latent[:1]))
    denoising = int(STEPS * STRENGTH)
    return {"unet_cfg_pair": pair, "vae_encode": encode, "vae_decode": decode,
            "per_image": denoising * pair + encode + decode}


def matmul_rate() -> float:
    """Measured dense matmul FLOP/s: bfloat16 8192^2 on CUDA, float32 1024^2 on the CPU."""
    n, dtype = (8192, torch.bfloat16) if DEV == "cuda" else (1024, torch.float32)
    a = torch.randn(n, n, device=DEV, dtype=dtype)
    b = torch.randn(n, n, device=DEV, dtype=dtype)
    seconds = timed(lambda: [a @ b for _ in range(10)], reps=3)
    return 2 * n**3 * 10 / seconds


# ---------------------------------------------------------------------------------------- run


# ---------------------------------------------------------------------------------------- edit models

EDIT_MODELS = {"flux2-klein": ("tiny-flux2-klein", "flux2-klein-4b"), "flux-kontext": ("tiny-flux-kontext",
                                                                                      "flux1-kontext-dev")}
EDIT_STEPS = 8  # short of the models' own 50 / 28: enough steps to time, few enough to fit a GPU slot
EDIT_CONFIGS = Path(__file__).resolve().parent / "edit_configs"
EDIT_DTYPE = torch.bfloat16 if DEV == "cuda" else torch.float32  # the FLUX models run in bfloat16 (not float16)


def build_edit_generator(model: str, tiny: bool):
    """photogen's generator over a pipeline with random weights built from configs, on the device."""
    from photogen.engines.base import ModelInfo as Info
    from photogen.engines.tiny import build_from_configs, tiny_config_folder

    folder = tiny_config_folder(EDIT_MODELS[model][0]) if tiny else EDIT_CONFIGS / EDIT_MODELS[model][1]
    index = json.loads((folder / "model_index.json").read_text())
    vae_config = json.loads((folder / "vae" / "config.json").read_text())
    previous = torch.get_default_dtype()
    torch.set_default_dtype(EDIT_DTYPE)
    try:
        with torch.device(DEV):  # initialise on the device: seconds instead of minutes for 12B weights
            pipe = build_from_configs(folder)
    finally:
        torch.set_default_dtype(previous)
    pipe.set_progress_bar_config(disable=True)
    pipe = pipe.to(DEV, EDIT_DTYPE)
    if model == "flux2-klein":
        from photogen.engines.families.flux2_klein import klein_capabilities
        from photogen.engines.flux2_klein import Flux2KleinGenerator as Generator

        capabilities = klein_capabilities(index, vae_config)
    else:
        from photogen.engines.families.flux_kontext import kontext_capabilities
        from photogen.engines.flux_kontext import FluxKontextGenerator as Generator

        capabilities = kontext_capabilities(json.loads((folder / "transformer" / "config.json").read_text()),
                                            vae_config)
    info = Info(model, model, "bench", random_weights=True, native_pixels=capabilities.native_pixels)
    return Generator(pipe, info, DEV, capabilities), pipe


def edit_requests(count: int, image: Image.Image, reference: Image.Image | None, steps: int,
                  guidance: float) -> list[PreparedRequest]:
    side = image.size[0]
    refs = (reference,) if reference is not None else ()
    return [PreparedRequest(GenerationRequest(prompt=f"make the jacket {colour}", seed=k, steps=steps, guidance=guidance,
                                              image_strength=None, width=side, height=side,
                                              references=tuple(f"{k:064x}" for _ in refs)), image, refs)
            for k, colour in zip(range(count), ("red", "blue", "green", "black", "white", "grey", "brown", "gold") * 64)]


def bench_edit_model(model: str, args, rate: float) -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    tiny, rows, record = args.tiny, [], {"model": model}
    t0 = time.perf_counter()
    generator, pipe = build_edit_generator(model, tiny)
    caps = generator.capabilities
    side = int(caps.native_pixels**0.5)
    record["build_s"], record["size"] = round(time.perf_counter() - t0, 1), side
    guidance = caps.default_guidance or 1.0
    image = source_image(side)
    reference = source_image(side).rotate(90) if caps.max_references else None
    reps = 1 if tiny else 2

    # FLOPs of one image: a run of one request counted whole, at 1 and 2 steps; the rest is one step each
    def counted(steps: int) -> float:
        with FlopCounterMode(display=False) as counter, torch.inference_mode():
            generator.generate(edit_requests(1, image, reference, steps, guidance))
        return float(counter.get_total_flops())

    one, two = counted(1), counted(2)
    flops = {"per_step": two - one, "fixed": 2 * one - two, "per_image": one + (EDIT_STEPS - 1) * (two - one)}
    floor = rate / flops["per_image"]
    record["flops"], record["floor_images_per_s"] = flops, floor
    record["memory_by_batch"] = {}

    def peak() -> dict:
        if DEV != "cuda":
            return {}
        return {"peak_gib": torch.cuda.max_memory_allocated() / 2**30}

    def reset() -> None:
        if DEV == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()

    def add(row: str, images_per_s: float, **extra) -> None:
        rows.append({"row": row, "images_per_s": images_per_s, "floor_share": images_per_s / floor, **extra})
        print(f"  {model:12s} {row:32s} {images_per_s:8.3f} img/s  {100 * images_per_s / floor:5.1f}% of floor"
              + "".join(f"  {k} {v:.3f}" if isinstance(v, float) else f"  {k} {v}" for k, v in extra.items()),
              flush=True)

    # 1. the stock pipeline on the same weights, one request per call
    def stock():
        images = [image, reference] if reference is not None else image
        extra = {} if model == "flux2-klein" else {"max_area": side * side, "_auto_resize": False}
        return pipe(image=images, prompt="make the jacket red", height=side, width=side, num_inference_steps=EDIT_STEPS,
                    guidance_scale=guidance, generator=torch.Generator("cpu").manual_seed(0), **extra)

    reset()
    with torch.inference_mode():
        seconds = timed(stock, reps)
    add("diffusers, 1 per call", 1 / seconds, latency_s=seconds, **peak())

    # 2. photogen: one request, then C concurrent clients through the batcher
    single = edit_requests(1, image, reference, EDIT_STEPS, guidance)
    reset()
    with torch.inference_mode():
        seconds = timed(lambda: generator.generate(single), reps)
    add("photogen, 1 request", 1 / seconds, latency_s=seconds, **peak())
    clients = edit_requests(args.clients, image, reference, EDIT_STEPS, guidance)
    if DEV == "cuda":  # the allocator and the kernels meet the batch's shapes once before it is timed
        with torch.inference_mode():
            generator.generate(clients)
    reset()
    with torch.inference_mode():
        load = concurrent_load(generator, clients, max_images=args.clients)
    add(f"photogen, {args.clients} clients", load.pop("images_per_s"), **load, **peak())
    record["rows"] = rows
    return record


def bench_model(model: str, args, rate: float) -> dict:
    tiny, rows, record = args.tiny, [], {"model": model}
    t0 = time.perf_counter()
    pipe = build_pipeline(model, tiny)
    side = native_side(pipe)
    record["build_s"], record["size"] = round(time.perf_counter() - t0, 1), side
    flops = flops_per_image(pipe, side)
    floor = rate / flops["per_image"]
    record["flops"], record["floor_images_per_s"] = flops, floor
    per_call = 4 if model == "sdxl" else 8  # the stock pipeline's batch, and the batcher's max batch
    image = source_image(side)
    reps = 1 if tiny else 3

    def add(row: str, images_per_s: float, **extra) -> None:
        rows.append({"row": row, "images_per_s": images_per_s, "floor_share": images_per_s / floor, **extra})
        print(f"  {model:5s} {row:38s} {images_per_s:8.3f} img/s  {100 * images_per_s / floor:5.1f}% of floor"
              + "".join(f"  {k} {v:.3f}" if isinstance(v, float) else f"  {k} {v}" for k, v in extra.items()),
              flush=True)

    # 1. plain diffusers on the same weights, before anything is changed
    def stock(n: int):
        return pipe(prompt="a studio portrait", negative_prompt="blurry", image=[image] * n, strength=STRENGTH,
                    num_inference_steps=STEPS, guidance_scale=GUIDANCE, num_images_per_prompt=n,
                    generator=torch.Generator("cpu").manual_seed(0), output_type="pil")

    with torch.inference_mode():
        seconds = timed(lambda: stock(1), reps)
        add("diffusers, 1 per call", 1 / seconds, latency_s=seconds)
        seconds = timed(lambda: stock(per_call), reps)
        add(f"diffusers, {per_call} per call", per_call / seconds)

    # 2. photogen, no optimisation: the loop and the batcher alone
    plain = EngineOptions(compile="off", channels_last="off", fuse_qkv="off", max_batch_images=per_call)
    generator, _ = photogen_generator(pipe, f"{model}-eager", plain)
    single = requests(1, image)
    seconds = timed(lambda: generator.generate(single), reps)
    add("photogen, 1 request", 1 / seconds, latency_s=seconds)
    if DEV == "cuda":
        concurrent_load(generator, requests(per_call, image), per_call)  # cuDNN and allocator meet the shapes once
    load = concurrent_load(generator, requests(args.clients, image), per_call)
    add(f"photogen, {args.clients} clients", load.pop("images_per_s"), **load)
    record["memory_by_batch"] = measure_memory(generator, [1, 2, 4, 8] if model == "sd15" else [1, 2, 4])

    # 3. photogen optimised: the settings' defaults for this device, compile warmed before timing
    compile_switch = args.compile if model == "sd15" or args.compile_sdxl else "off"
    options = EngineOptions(compile=compile_switch, max_batch_images=per_call, compile_batch_sizes=(1, per_call))
    if not any(_wanted(v) for v in (options.compile, options.channels_last, options.fuse_qkv)):
        print(f"  {model:5s} optimised rows skipped: compile, channels-last and fused QKV are all off on {DEV}")
    else:
        t0 = time.perf_counter()
        generator, applied = photogen_generator(pipe, f"{model}-optimised", options)
        record["optimizations"], record["optimize_s"] = applied, round(time.perf_counter() - t0, 1)
        print(f"  {model:5s} optimised in {record['optimize_s']} s: {json.dumps(applied)}", flush=True)
        seconds = timed(lambda: generator.generate(single), reps)
        add("photogen optimised, 1 request", 1 / seconds, latency_s=seconds)
        load = concurrent_load(generator, requests(args.clients, image), per_call)
        add(f"photogen optimised, {args.clients} clients", load.pop("images_per_s"), **load)
    record["rows"] = rows
    return record


def _wanted(switch: str) -> bool:
    return switch == "on" or (switch == "auto" and DEV == "cuda")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny configs (CPU smoke run of the same code)")
    parser.add_argument("--gpu", action="store_true", help="full-size configs on CUDA (refused without CUDA)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent requests through the batcher")
    parser.add_argument("--compile", choices=["auto", "on", "off"], default="auto", help="compile SD 1.5's UNet")
    parser.add_argument("--compile-sdxl", action="store_true", help="compile SDXL's UNet too (minutes per bucket)")
    parser.add_argument("--models", default="sd15,sdxl", help="comma-separated: sd15, sdxl, flux2-klein, flux-kontext")
    args = parser.parse_args()
    if args.gpu and DEV != "cuda":
        sys.exit("full-size models need CUDA; use --tiny for the CPU smoke run")
    args.tiny = args.tiny or (not args.gpu and DEV != "cuda")

    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()  # not one line per VAE dtype move
    transformers.utils.logging.set_verbosity_error()
    rate = matmul_rate()
    machine = {"device": torch.cuda.get_device_name() if DEV == "cuda" else platform.processor() or platform.machine(),
               "cpu_threads": torch.get_num_threads(), "torch": torch.__version__, "diffusers": diffusers.__version__,
               "dtype": str(DTYPE).removeprefix("torch."), "matmul_tflops": rate / 1e12}  # fmt: skip
    print(f"{machine['device']}: torch {torch.__version__}, diffusers {diffusers.__version__}, {machine['dtype']}, "
          f"matmul {rate / 1e12:.2f} TFLOP/s; img2img {STEPS} steps at strength {STRENGTH}, CFG on; edit models "
          f"{EDIT_STEPS} steps", flush=True)
    models = []
    for model in (m.strip() for m in args.models.split(",") if m.strip()):
        models.append(bench_edit_model(model, args, rate) if model in EDIT_MODELS else bench_model(model, args, rate))
        if DEV == "cuda":  # the model just measured is garbage now: give its memory back
            gc.collect()
            torch.cuda.empty_cache()

    print(f"\n{'model':6s} {'row':40s} {'img/s':>8s} {'floor':>6s} {'vs 1/call':>9s} {'latency s':>9s} {'p95 s':>7s}")
    for record in models:
        base = record["rows"][0]["images_per_s"]
        for row in record["rows"]:
            latency, p95 = row.get("latency_s", row.get("p50_s")), row.get("p95_s")
            print(f"{record['model']:6s} {row['row']:40s} {row['images_per_s']:8.3f} {100 * row['floor_share']:5.1f}% "
                  f"{row['images_per_s'] / base:8.2f}x " + (f"{latency:9.3f} " if latency else "        - ")
                  + (f"{p95:7.3f}" if p95 else "      -"))
        peaks = {row["row"]: round(row["peak_gib"], 2) for row in record["rows"] if "peak_gib" in row}
        memory = (f"peak GiB by row: {peaks}" if peaks else
                  f"peak memory by batch: {record['memory_by_batch'] or 'not measured (no CUDA)'}")
        print(f"{'':6s} floor {record['floor_images_per_s']:.3f} img/s ({record['flops']['per_image'] / 1e12:.3f} TFLOP "
              f"per image); {memory}")

    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"engine-{'tiny-' if args.tiny else ''}{stamp}.json"
    record = {"benchmark": "engine", "when": stamp, "tiny": args.tiny, "machine": machine,
              "workload": {"steps": STEPS, "strength": STRENGTH, "denoising_steps": int(STEPS * STRENGTH),
                           "guidance": GUIDANCE, "client_guidance": CLIENT_GUIDANCE, "clients": args.clients},
              "models": models}  # fmt: skip
    path.write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
