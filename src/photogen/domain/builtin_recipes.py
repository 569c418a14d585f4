"""The recipes photogen ships: each one objective, with explicit cues for what must be preserved."""

from __future__ import annotations

from photogen.domain.recipes import RecipeFields

BUILTIN_OWNER = "builtin"

BUILTIN_RECIPES: dict[str, RecipeFields] = {
    "headshot": RecipeFields(
        title="Professional headshot",
        prompt="professional headshot, {details}, neutral studio background, soft daylight, "
        "preserve facial identity and expression, natural skin texture, sharp focus on the eyes",
        negative_prompt="distorted face, extra fingers, plastic skin, heavy makeup, changed facial features, "
        "blurry, text, watermark",
        image_strength=0.6,
        strength_range=(0.5, 0.75),
        crop_preset="headshot",
        notes="Keep more of the source (0.6-0.75) to preserve identity; lower it only to change clothing or "
        "background. Check eyes, teeth, glasses and collar at full size.",
    ),
    "polished-portrait": RecipeFields(
        title="Selfie to polished portrait",
        prompt="polished portrait photo, {details}, flattering soft light, corrected lens distortion, "
        "preserve facial identity, expression and hairstyle",
        negative_prompt="distorted face, wide-angle distortion, extra limbs, plastic skin, blurry, watermark",
        image_strength=0.55,
        strength_range=(0.45, 0.7),
        crop_preset="instagram-portrait",
        notes="Selfies carry lens distortion; a moderate strength lets the model correct it without "
        "drifting the face.",
    ),
    "restoration": RecipeFields(
        title="Vintage photo restoration",
        prompt="restored vintage photograph, {details}, repair cracks, scratches and fading, "
        "keep period clothing, hairstyle and composition exactly, natural film grain",
        negative_prompt="modern clothing, changed composition, oversharpened, cartoon, colour cast, watermark",
        image_strength=0.7,
        strength_range=(0.6, 0.85),
        notes="Restoration should change defects only: keep a high image strength and scan the print at "
        "600 DPI or more.",
    ),
    "product-hero": RecipeFields(
        title="Product hero image",
        prompt="product hero photo, {details}, clean seamless background, soft studio lighting, "
        "keep the product's shape, proportions, label and colour exact",
        negative_prompt="deformed product, changed logo, wrong label text, extra objects, clutter, watermark",
        image_strength=0.65,
        strength_range=(0.55, 0.8),
        crop_preset="product-hero",
        notes="Product shape must not change: keep the strength high and inspect edges and labels at full size.",
    ),
    "avatar-adventurer": RecipeFields(
        title="Avatar: outdoor adventurer",
        prompt="portrait of the same person as an outdoor adventurer on a mountain trail, {details}, "
        "golden hour light, preserve facial identity",
        negative_prompt="different person, distorted face, extra limbs, text, watermark",
        image_strength=0.45,
        strength_range=(0.35, 0.6),
        crop_preset="instagram-portrait",
        notes="One scenario per recipe; a new scene needs more freedom, so identity needs checking.",
    ),
    "avatar-office": RecipeFields(
        title="Avatar: modern office",
        prompt="portrait of the same person in a bright modern office, {details}, business casual clothing, "
        "soft window light, preserve facial identity",
        negative_prompt="different person, distorted face, extra limbs, text, watermark",
        image_strength=0.5,
        strength_range=(0.4, 0.65),
        crop_preset="instagram-portrait",
        notes="One scenario per recipe; compare identity scores across the batch before choosing.",
    ),
}
