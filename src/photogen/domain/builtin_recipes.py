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
        "600 DPI or more. On instruction-edit models the instruction variant runs: it names the defects to "
        "repair and everything to keep.",
        instruction="Restore this vintage photograph: repair the cracks, scratches, stains and fading{details}. "
        "Keep the people's faces, expressions, period clothing, hairstyles and the composition exactly as they "
        "are; keep a natural film grain and do not add colour or modern details.",
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
    # Avatar scenarios: one scene per run, drawn from an identity set (POST /v1/avatar-sets, `photogen avatars`).
    "avatar-corporate-headshot": RecipeFields(
        title="Avatar: corporate headshot",
        prompt="corporate headshot of the same person, {details}, dark suit jacket, plain light grey studio "
        "background, soft even key light, preserve facial identity, natural skin texture",
        negative_prompt="different person, distorted face, heavy retouching, text, watermark",
        image_strength=0.5,
        strength_range=(0.4, 0.65),
        crop_preset="headshot",
        notes="One scenario per run. Instruction-edit models keep the face from the identity set's references; "
        "check the identity score of each output before choosing.",
        instruction="Make this a corporate headshot of the same person{details}: dark suit jacket, plain light "
        "grey studio background, soft even light. Keep the face, identity, expression and hairstyle unchanged.",
    ),
    "avatar-creator-portrait": RecipeFields(
        title="Avatar: creator portrait",
        prompt="portrait of the same person as a content creator in a cosy home studio, {details}, warm practical "
        "lights and shelves behind, shallow depth of field, preserve facial identity",
        negative_prompt="different person, distorted face, extra limbs, text, watermark",
        image_strength=0.45,
        strength_range=(0.35, 0.6),
        crop_preset="instagram-portrait",
        notes="One scenario per run; a new scene needs more freedom, so identity needs checking.",
        instruction="Place the same person in a cosy home studio as a content creator{details}: warm lamps and "
        "shelves behind, shallow depth of field. Keep the face, identity and expression unchanged.",
    ),
    "avatar-outdoor-casual": RecipeFields(
        title="Avatar: outdoor casual",
        prompt="casual outdoor portrait of the same person in a city park, {details}, soft overcast daylight, "
        "preserve facial identity",
        negative_prompt="different person, distorted face, extra limbs, text, watermark",
        image_strength=0.45,
        strength_range=(0.35, 0.6),
        crop_preset="instagram-portrait",
        notes="One scenario per run; overcast light keeps the face's shading close to most references.",
        instruction="Place the same person outdoors in a city park in soft overcast daylight, casual clothes"
        "{details}. Keep the face, identity and expression unchanged.",
    ),
    # Angle changes: small turns, each from the photo before (instruction-edit models with an angle control).
    "angle-slight-left": RecipeFields(
        title="Angle: slight turn left (15 degrees)",
        prompt="the same person, {details}, head turned slightly, same framing",
        image_strength=0.5,
        angle=-15,
        notes="Small shifts first: 15 degrees holds identity best. The crop is kept; each output reports the "
        "measured yaw beside the requested one.",
        instruction="Keep everything as it is{details}.",
    ),
    "angle-slight-right": RecipeFields(
        title="Angle: slight turn right (15 degrees)",
        prompt="the same person, {details}, head turned slightly, same framing",
        image_strength=0.5,
        angle=15,
        notes="Small shifts first: 15 degrees holds identity best. The crop is kept; each output reports the "
        "measured yaw beside the requested one.",
        instruction="Keep everything as it is{details}.",
    ),
    "angle-three-quarter-left": RecipeFields(
        title="Angle: three-quarter left (30 degrees)",
        prompt="the same person, {details}, three-quarter view, same framing",
        image_strength=0.5,
        angle=-30,
        notes="A larger turn: give an identity set with a photo from that side, or turn 15 degrees twice.",
        instruction="Keep everything as it is{details}.",
    ),
    "angle-three-quarter-right": RecipeFields(
        title="Angle: three-quarter right (30 degrees)",
        prompt="the same person, {details}, three-quarter view, same framing",
        image_strength=0.5,
        angle=30,
        notes="A larger turn: give an identity set with a photo from that side, or turn 15 degrees twice.",
        instruction="Keep everything as it is{details}.",
    ),
}

AVATAR_SCENARIOS = tuple(name for name in BUILTIN_RECIPES if name.startswith("avatar-"))
ANGLE_RECIPES = tuple(name for name in BUILTIN_RECIPES if name.startswith("angle-"))
