"""Single-file checkpoints: bundled configs, the original key layout, export and offline loading."""

from __future__ import annotations

import functools
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from photogen.domain.errors import ModelNotFound, UnsupportedModel
from photogen.engines import ldm_keys
from photogen.engines.single_file import (
    BUNDLED_CONFIGS,
    CONFIG_METADATA_KEY,
    bundled_config_folder,
    config_folder_for,
    detect_family,
    export_single_file,
    load_single_file,
    read_header,
    sd2_variant,
)
from photogen.engines.tiny import build_tiny_pipeline, ensure_tiny_model
from photogen.engines.tokenizer import VOCAB_SIZE, clip_tokenizer

# Published parameter counts: (UNet, VAE, text encoder[, text encoder 2]).
SD1_UNET, SD2_UNET, SDXL_UNET = 859_520_964, 865_910_724, 2_567_463_684
SD_VAE, CLIP_L, OPEN_CLIP_H, OPEN_CLIP_BIGG = 83_653_863, 123_060_480, 340_387_840, 694_659_840
EXPECTED_COUNTS = {
    "sd15": (SD1_UNET, SD_VAE, CLIP_L),
    "sd21": (SD2_UNET, SD_VAE, OPEN_CLIP_H),
    "sd21-base": (SD2_UNET, SD_VAE, OPEN_CLIP_H),
    "sd-turbo": (SD2_UNET, SD_VAE, OPEN_CLIP_H),
    "sdxl-base": (SDXL_UNET, SD_VAE, CLIP_L, OPEN_CLIP_BIGG),
}


@functools.cache
def meta_components(name: str) -> dict[str, torch.nn.Module]:
    """A bundled config's modules on the meta device (shapes only); tests only read them."""
    from photogen.engines.single_file import _meta_components

    return _meta_components(bundled_config_folder(name), BUNDLED_CONFIGS[name])


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------- bundled configs


@pytest.mark.parametrize("name", sorted(EXPECTED_COUNTS))
def test_bundled_configs_have_the_published_parameter_counts(name):
    components = meta_components(name)
    names = ["unet", "vae", "text_encoder", "text_encoder_2"][: len(EXPECTED_COUNTS[name])]
    assert tuple(count(components[n]) for n in names) == EXPECTED_COUNTS[name]


@pytest.mark.parametrize("name", sorted(BUNDLED_CONFIGS))
def test_bundled_configs_are_complete_offline_folders(name):
    folder = bundled_config_folder(name)
    index = json.loads((folder / "model_index.json").read_text())
    scheduler = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    assert scheduler["steps_offset"] == 1
    assert index["scheduler"] == ["diffusers", scheduler["_class_name"]]
    for component, (library, _) in ((k, v) for k, v in index.items() if isinstance(v, list)):
        if library is not None and component not in ("tokenizer", "tokenizer_2", "scheduler"):
            assert (folder / component / "config.json").is_file(), component
    assert not list(folder.rglob("*.safetensors")) and not list(folder.rglob("*.txt"))


def test_sd2_variants_differ_where_the_releases_do():
    def scheduler(name):
        return json.loads((bundled_config_folder(name) / "scheduler" / "scheduler_config.json").read_text())

    def unet(name):
        return json.loads((bundled_config_folder(name) / "unet" / "config.json").read_text())

    assert scheduler("sd21")["prediction_type"] == "v_prediction" and unet("sd21")["sample_size"] == 96
    assert scheduler("sd21-base")["prediction_type"] == "epsilon" and unet("sd21-base")["sample_size"] == 64
    assert scheduler("sd-turbo")["timestep_spacing"] == "trailing"


@pytest.mark.parametrize(("name", "family"), [("sd15", "sd1"), ("sd21", "sd2"), ("sdxl-base", "sdxl")])
def test_original_names_convert_back_through_diffusers_at_full_scale(name, family):
    """Our inverse mapping, read by diffusers' own converters, gives back every weight and shape."""
    from diffusers.loaders.single_file_utils import (
        convert_ldm_clip_checkpoint,
        convert_ldm_unet_checkpoint,
        convert_ldm_vae_checkpoint,
        convert_open_clip_checkpoint,
    )

    components = meta_components(name)
    state = ldm_keys.to_ldm_state_dict(family, components)
    assert detect_family(state, {k: tuple(t.shape) for k, t in state.items()}) == family
    converted = {
        "unet": convert_ldm_unet_checkpoint(state, components["unet"].config),
        "vae": convert_ldm_vae_checkpoint(state, components["vae"].config),
    }
    for component, (prefix, layout) in ldm_keys.TEXT_ENCODER_LAYOUTS[family].items():
        model = components[component]
        if layout == "clip":
            weights = convert_ldm_clip_checkpoint(state, prefix)
        else:
            weights = convert_open_clip_checkpoint(model, state, prefix=prefix)
        if not hasattr(model, "text_model"):
            weights = {k.removeprefix("text_model."): v for k, v in weights.items()}
        converted[component] = weights
    for component, weights in converted.items():
        reference = components[component].state_dict()
        assert set(weights) == set(reference), component
        assert all(weights[k].shape == reference[k].shape for k in reference), component


def test_original_names_match_well_known_checkpoint_keys():
    sd1 = ldm_keys.to_ldm_state_dict("sd1", meta_components("sd15"))
    assert "model.diffusion_model.output_blocks.11.0.skip_connection.weight" in sd1
    assert sd1["model.diffusion_model.input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight"].shape == (
        320,
        768,
    )
    assert sd1["first_stage_model.decoder.mid.attn_1.q.weight"].shape == (512, 512, 1, 1)
    assert "cond_stage_model.transformer.text_model.final_layer_norm.weight" in sd1
    sd2 = ldm_keys.to_ldm_state_dict("sd2", meta_components("sd21"))
    assert sd2["cond_stage_model.model.transformer.resblocks.22.attn.in_proj_weight"].shape == (3072, 1024)
    xl = ldm_keys.to_ldm_state_dict("sdxl", meta_components("sdxl-base"))
    assert xl["model.diffusion_model.label_emb.0.0.weight"].shape == (1280, 2816)
    assert xl["conditioner.embedders.1.model.text_projection"].shape == (1280, 1280)
    assert "conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight" in xl


# ---------------------------------------------------------------- tiny pipelines, exported and loaded back


# The tiny UNet with SD 2.x / SDXL traits: linear projections, per-level head sizes.
_TINY_SD2_UNET = dict(
    sample_size=32,
    block_out_channels=(32, 64),
    layers_per_block=2,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    attention_head_dim=(2, 4),
    use_linear_projection=True,
)


def _tiny_sd2_pipeline():
    from diffusers import EulerDiscreteScheduler, StableDiffusionImg2ImgPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    base = build_tiny_pipeline(seed=1)
    torch.manual_seed(1)
    unet = UNet2DConditionModel(**_TINY_SD2_UNET, cross_attention_dim=32)
    text_encoder = CLIPTextModel(_text_config(hidden=32, act="gelu"))
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        prediction_type="v_prediction",
        timestep_spacing="trailing",
        steps_offset=1,
    )
    return _evaluating(
        StableDiffusionImg2ImgPipeline(
            vae=base.vae,
            text_encoder=text_encoder,
            tokenizer=clip_tokenizer("!"),
            unet=unet,
            scheduler=scheduler,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
    )


def _tiny_sdxl_pipeline():
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLImg2ImgPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    base = build_tiny_pipeline(seed=2)
    torch.manual_seed(2)
    # The two encoders must differ in width, as CLIP-L (768) and bigG (1280) do: that is how the
    # original layout tells them apart. Cross-attention sees both (32 + 64); the pooled 32 + 6 x 8 time ids.
    unet = UNet2DConditionModel(
        **_TINY_SD2_UNET,
        cross_attention_dim=96,
        transformer_layers_per_block=(1, 2),
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=80,
    )
    text_encoder = CLIPTextModel(_text_config(hidden=32, act="quick_gelu"))
    text_encoder_2 = CLIPTextModelWithProjection(_text_config(hidden=64, act="gelu", projection=32))
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        timestep_spacing="leading",
        steps_offset=1,
    )
    return _evaluating(
        StableDiffusionXLImg2ImgPipeline(
            vae=base.vae,
            text_encoder=text_encoder,
            text_encoder_2=text_encoder_2,
            tokenizer=clip_tokenizer(),
            tokenizer_2=clip_tokenizer("!"),
            unet=unet,
            scheduler=scheduler,
            requires_aesthetics_score=False,
        )
    )


def _evaluating(pipe):
    """Modules built in memory start in training mode; loaded ones in eval mode, and the two modes
    take different attention kernels (outputs differ in the last bits)."""
    for module in pipe.components.values():
        if isinstance(module, torch.nn.Module):
            module.eval()
    return pipe


def _text_config(*, hidden: int, act: str, projection: int = 32):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=49407,
        hidden_size=hidden,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        vocab_size=VOCAB_SIZE,
        max_position_embeddings=77,
        projection_dim=projection,
        hidden_act=act,
    )


def _run(pipe) -> np.ndarray:
    pipe.set_progress_bar_config(disable=True)
    pixels = np.linspace(0, 255, 64 * 64 * 3, dtype=np.float32).reshape(64, 64, 3).astype(np.uint8)
    generator = torch.Generator("cpu").manual_seed(7)
    result = pipe(
        prompt="a photo of a cat",
        image=Image.fromarray(pixels),
        strength=0.6,
        num_inference_steps=2,
        guidance_scale=5.0,
        generator=generator,
        output_type="np",
    )
    return result.images[0]


def _assert_same_weights(original, loaded, components):
    for name in components:
        expected, actual = getattr(original, name).state_dict(), getattr(loaded, name).state_dict()
        assert set(expected) == set(actual), name
        unequal = [k for k in expected if not torch.equal(expected[k], actual[k])]
        assert not unequal, (name, unequal[:3])


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("single-file")
    return export_single_file(build_tiny_pipeline(), folder / "tiny.safetensors")


def test_export_writes_the_original_layout_with_its_config(tiny_file):
    header = read_header(tiny_file)
    assert detect_family(header.shapes, header.shapes) == "sd1"
    assert all(
        k.startswith(
            ("model.diffusion_model.", "first_stage_model.", "cond_stage_model.transformer.text_model.")
        )
        for k in header.shapes
    )
    assert header.shapes["first_stage_model.encoder.mid.attn_1.k.weight"] == (64, 64, 1, 1)
    embedded = json.loads(header.metadata[CONFIG_METADATA_KEY])
    assert embedded["unet"]["block_out_channels"] == [32, 64]


def test_single_file_loads_back_exactly_and_gives_the_folder_image(tiny_file, tmp_path):
    from diffusers import StableDiffusionImg2ImgPipeline

    loaded = load_single_file(tiny_file, cache_dir=tmp_path / "configs")
    assert isinstance(loaded, StableDiffusionImg2ImgPipeline)
    folder_form = StableDiffusionImg2ImgPipeline.from_pretrained(
        ensure_tiny_model(tmp_path / "models"),
        local_files_only=True,
        safety_checker=None,
        requires_safety_checker=False,
    )
    _assert_same_weights(folder_form, loaded, ["unet", "vae", "text_encoder"])
    assert type(loaded.scheduler) is type(folder_form.scheduler)
    assert dict(loaded.scheduler.config) == dict(folder_form.scheduler.config)
    assert np.array_equal(_run(loaded), _run(folder_form))


def test_embedded_config_is_written_once_by_content(tiny_file, tmp_path):
    first = config_folder_for(tiny_file, cache_dir=tmp_path)
    assert first.parent == tmp_path and (first / "unet" / "config.json").is_file()
    assert config_folder_for(tiny_file, cache_dir=tmp_path) == first
    assert [p.name for p in tmp_path.iterdir()] == [first.name]


def test_sd2_round_trip_through_the_open_clip_layout(tmp_path):
    pipe = _tiny_sd2_pipeline()
    path = export_single_file(pipe, tmp_path / "tiny-sd2.safetensors")
    header = read_header(path)
    assert detect_family(header.shapes) == "sd2"
    assert header.shapes["cond_stage_model.model.transformer.resblocks.1.attn.in_proj_weight"] == (96, 32)
    loaded = load_single_file(path, cache_dir=tmp_path / "configs")
    _assert_same_weights(pipe, loaded, ["unet", "vae", "text_encoder"])
    assert loaded.scheduler.config.prediction_type == "v_prediction"
    assert loaded.tokenizer.pad_token == "!"
    assert np.array_equal(_run(loaded), _run(pipe))


def test_sdxl_round_trip_with_both_text_encoders(tmp_path):
    from diffusers import StableDiffusionXLImg2ImgPipeline

    pipe = _tiny_sdxl_pipeline()
    path = export_single_file(pipe, tmp_path / "tiny-sdxl.safetensors")
    header = read_header(path)
    assert detect_family(header.shapes) == "sdxl"
    assert header.shapes["conditioner.embedders.1.model.text_projection"] == (64, 32)
    loaded = load_single_file(path, cache_dir=tmp_path / "configs")
    assert isinstance(loaded, StableDiffusionXLImg2ImgPipeline)
    _assert_same_weights(pipe, loaded, ["unet", "vae", "text_encoder", "text_encoder_2"])
    assert loaded.config.requires_aesthetics_score is False
    assert np.array_equal(_run(loaded), _run(pipe))


# ---------------------------------------------------------------- choosing a config


def test_without_an_embedded_config_the_family_default_is_used(tmp_path):
    path = export_single_file(build_tiny_pipeline(), tmp_path / "plain.safetensors", embed_config=False)
    assert config_folder_for(path, cache_dir=tmp_path) == bundled_config_folder("sd15")
    with pytest.raises(UnsupportedModel, match="sd2 but plain.safetensors is an sd1"):
        config_folder_for(path, variant="sd-turbo")
    # The tiny model is not SD 1.5 (2 text layers, not 12): a clear error before anything is built.
    with pytest.raises(UnsupportedModel, match="lacks 746 of the 1130 weights the sd15 config") as caught:
        load_single_file(path)
    assert caught.value.hint


def test_a_config_that_does_not_fit_the_weights_is_refused_before_loading(tiny_file, tmp_path):
    import shutil

    folder = shutil.copytree(
        config_folder_for(tiny_file, cache_dir=tmp_path / "configs"), tmp_path / "edited"
    )
    text_config = folder / "text_encoder" / "config.json"
    text_config.write_text(json.dumps(dict(json.loads(text_config.read_text()), intermediate_size=40)))
    with pytest.raises(UnsupportedModel, match=r"6 weights differ in size \(first: cond_stage_model"):
        load_single_file(tiny_file, config_folder=folder)


@pytest.mark.parametrize(
    ("file_name", "yaml", "expected"),
    [
        ("v2-1_768-ema-pruned.safetensors", None, "sd21"),
        ("v2-1_512-ema-pruned.safetensors", None, "sd21-base"),
        ("my-sd21-base-finetune.safetensors", None, "sd21-base"),
        ("sd_turbo.safetensors", None, "sd-turbo"),
        ("anything.safetensors", 'model:\n  params:\n    parameterization: "v"\n', "sd21"),
        ("anything-512.safetensors", "model:\n  params:\n    parameterization: 'v'  # 768-v\n", "sd21"),
        ("anything.safetensors", "model:\n  params:\n    linear_start: 0.00085\n", "sd21-base"),
        ("turbo-mix.safetensors", "model:\n  params:\n    linear_start: 0.00085\n", "sd-turbo"),
    ],
)
def test_sd2_variant_follows_the_yaml_beside_the_file_then_its_name(tmp_path, file_name, yaml, expected):
    path = tmp_path / file_name
    if yaml is not None:
        path.with_suffix(".yaml").write_text(yaml)
    assert sd2_variant(path) == expected


# ---------------------------------------------------------------- recognising layouts and bad files


UNET = ["model.diffusion_model.input_blocks.0.0.weight", "model.diffusion_model.out.2.weight"]
VAE = ["first_stage_model.decoder.conv_in.weight"]


@pytest.mark.parametrize(
    ("keys", "family"),
    [
        (UNET + VAE + ["cond_stage_model.transformer.text_model.final_layer_norm.weight"], "sd1"),
        (UNET + VAE + ["cond_stage_model.model.ln_final.weight"], "sd2"),
        (
            UNET
            + VAE
            + [
                "conditioner.embedders.0.transformer.text_model.final_layer_norm.weight",
                "conditioner.embedders.1.model.ln_final.weight",
            ],
            "sdxl",
        ),
    ],
)
def test_detect_family_from_names(keys, family):
    assert detect_family(keys, {UNET[0]: (320, 4, 3, 3)}) == family
    assert detect_family(iter(keys)) == family


@pytest.mark.parametrize(
    ("keys", "shapes", "message"),
    [
        (UNET + ["cond_stage_model.transformer.text_model.x"], {UNET[0]: (320, 9, 3, 3)}, "inpainting"),
        (UNET + ["cond_stage_model.model.ln_final.weight"], {UNET[0]: (320, 8, 3, 3)}, "instruct-pix2pix"),
        (UNET + ["conditioner.embedders.0.model.ln_final.weight"], None, "refiner"),
        (
            UNET + ["cond_stage_model.model.x", "model.diffusion_model.label_emb.0.0.weight"],
            None,
            "class labels",
        ),
        (
            ["model.diffusion_model.joint_blocks.0.context_block.adaLN_modulation.1.bias"],
            None,
            "Stable Diffusion 3",
        ),
        (["double_blocks.0.img_attn.norm.key_norm.scale"], None, "FLUX"),
        (["down_blocks.0.resnets.0.conv1.weight"], None, "diffusers layout"),
        (["lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight"], None, "LoRA"),
        (["encoder.down.0.block.0.conv1.weight", "decoder.up.0.block.0.conv1.weight"], None, "only a VAE"),
        (["bert.embeddings.word_embeddings.weight"], None, "not a Stable Diffusion checkpoint"),
        (UNET, None, "no text encoder"),
    ],
)
def test_detect_family_turns_away_other_models(keys, shapes, message):
    with pytest.raises(UnsupportedModel, match=message) as caught:
        detect_family(keys, shapes)
    assert caught.value.hint


def test_unreadable_files_give_our_errors(tiny_file, tmp_path):
    with pytest.raises(ModelNotFound):
        load_single_file(tmp_path / "missing.safetensors")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"PK\x03\x04 this is a zip file, not a checkpoint" * 10)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(tiny_file.read_bytes()[: tiny_file.stat().st_size // 2])
    header_only = tmp_path / "header-only.safetensors"
    header_only.write_bytes(tiny_file.read_bytes()[:6])
    for path in (garbage, truncated, header_only):
        with pytest.raises(UnsupportedModel, match="not a readable safetensors file") as caught:
            load_single_file(path)
        assert caught.value.hint


def test_a_safetensors_file_of_something_else_is_refused(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "bert.safetensors"
    save_file({"bert.pooler.dense.bias": torch.ones(1)}, str(path))
    with pytest.raises(UnsupportedModel, match="not a Stable Diffusion checkpoint"):
        load_single_file(path)


def test_a_partial_checkpoint_is_refused_before_loading(tiny_file, tmp_path):
    from safetensors.torch import load_file, save_file

    weights = {k: v for k, v in load_file(str(tiny_file)).items() if not k.startswith("first_stage_model.")}
    path = tmp_path / "no-vae.safetensors"
    save_file(weights, str(path), metadata=read_header(tiny_file).metadata)
    with pytest.raises(UnsupportedModel, match="lacks 124 of the"):
        load_single_file(path, cache_dir=tmp_path)


def test_older_clip_names_without_text_model_still_load(tiny_file, tmp_path):
    from safetensors.torch import load_file, save_file

    old = "cond_stage_model.transformer.text_model."
    weights = {
        k.replace(old, "cond_stage_model.transformer."): v for k, v in load_file(str(tiny_file)).items()
    }
    weights["cond_stage_model.transformer.embeddings.position_ids"] = torch.arange(77)[None]
    path = tmp_path / "older.safetensors"
    save_file(weights, str(path), metadata=read_header(tiny_file).metadata)
    loaded = load_single_file(path, cache_dir=tmp_path)
    _assert_same_weights(load_single_file(tiny_file, cache_dir=tmp_path), loaded, ["text_encoder"])


def _with_metadata(source: Path, target: Path, metadata: dict[str, str]) -> Path:
    from safetensors.torch import load_file, save_file

    save_file(load_file(str(source)), str(target), metadata=metadata)
    return target


def test_an_embedded_config_cannot_name_arbitrary_classes(tiny_file, tmp_path):
    embedded = json.loads(read_header(tiny_file).metadata[CONFIG_METADATA_KEY])
    embedded["scheduler"]["_class_name"] = "os.system"
    path = _with_metadata(
        tiny_file, tmp_path / "odd.safetensors", {CONFIG_METADATA_KEY: json.dumps(embedded)}
    )
    with pytest.raises(UnsupportedModel, match="unknown scheduler"):
        config_folder_for(path, cache_dir=tmp_path / "configs")
    broken = _with_metadata(tiny_file, tmp_path / "broken.safetensors", {CONFIG_METADATA_KEY: "{not json"})
    with pytest.raises(UnsupportedModel, match="damaged"):
        config_folder_for(broken, cache_dir=tmp_path / "configs")
    assert not (tmp_path / "configs").exists()


def test_read_header_checks_the_declared_length(tmp_path):
    path = tmp_path / "huge-header.safetensors"
    path.write_bytes(struct.pack("<Q", 1 << 40) + b"{}")
    with pytest.raises(UnsupportedModel):
        read_header(path)
