// Step 3: the controls of a generation and the Generate button. Generate is enabled only when a
// photo is uploaded, its blocking findings are acknowledged, its crop is ready and the values
// are valid; the reason is shown next to the button otherwise.

import { api } from "./api.js";
import { cropFields, usePreset } from "./crop.js";
import { submit } from "./jobs.js";
import { blockingUnacknowledged, emit, on, selectedUpload, state } from "./store.js";
import { $, el, number, showError } from "./ui.js";

let submitting = false;
let recipes = []; // from GET /v1/recipes
const PROMPT_PLACEHOLDER = "Professional studio headshot, neutral background, soft daylight, preserve facial identity";

const MAX_SEED = 4294967295;
const denoisingSteps = (steps, strength) => Math.floor(steps * (1 - strength) + 1e-6);

export function strengthWords(strength) {
  if (strength >= 0.7) return "Keeps the source closely: lighting fixes, skin polish, a cleaner backdrop.";
  if (strength >= 0.5) return "Keeps identity, pose and product shape, with room to polish.";
  if (strength >= 0.2) return "Room for a new outfit, scene or style; faces and shapes may drift.";
  return "Mostly a new picture: the photo is only a loose hint.";
}

/** The recipe's template with the user's words in place of {details}, as the server fills it. */
export function fillPrompt(template, details) {
  const words = details.trim();
  if (template.includes("{details}")) return template.replace("{details}", words).replace(/ ,/g, ",").replace(/^[ ,]+|[ ,]+$/g, "");
  return words ? `${template}, ${words}` : template;
}

const currentRecipe = () => recipes.find((r) => r.ref === $("#recipe").value) || null;

/** The capabilities of the model the form names (the server's default when empty); null when unknown. */
function modelCapabilities() {
  const name = $("#model").value.trim();
  const model = state.models.find((m) => (name ? m.id === name : m.default));
  return model ? model.capabilities : null;
}

let shownFor = null; // the capabilities the controls were last laid out for

/** Show only the controls the model has: no strength for edit models, no negative prompt without CFG, its
 * own schedulers; an edit model's prompt is an instruction. */
function followModel() {
  const caps = modelCapabilities();
  if (caps === shownFor) return;
  shownFor = caps;
  const strength = !caps || caps.image_strength;
  $("fieldset.strength").hidden = !strength;
  const negative = !caps || caps.negative_prompt;
  $("#negative").hidden = !negative;
  $('label[for="negative"]').hidden = !negative;
  const instruction = caps && caps.prompt_kind === "instruction";
  $("#prompt-label").textContent = instruction ? "Instruction" : "Prompt";
  $("#prompt").placeholder = instruction ? "Say what to change, e.g. make the jacket navy, keep the face" : PROMPT_PLACEHOLDER;
  // the model's own steps and guidance where it has them (edit models run few steps at low guidance)
  const steps = caps && caps.default_steps != null ? caps.default_steps : state.defaults.steps;
  const guidance = caps && caps.default_guidance != null ? caps.default_guidance : state.defaults.guidance;
  if (steps != null) $("#steps").value = String(steps);
  if (guidance != null && !(currentRecipe() && currentRecipe().guidance != null)) $("#guidance").value = String(guidance);
  const schedulers = caps ? caps.schedulers : state.defaults.schedulers || ["default"];
  const chosen = $("#scheduler").value;
  $("#scheduler").replaceChildren(...schedulers.map((name) => el("option", { value: name, text: name })));
  $("#scheduler").value = schedulers.includes(chosen) ? chosen : schedulers[0];
}

function values() {
  return {
    prompt: $("#prompt").value.trim(),
    negative_prompt: $("#negative").value.trim(),
    image_strength: Number($("#strength").value),
    seed: $("#seed").value === "" ? null : Number($("#seed").value),
    seedLocked: $("#seed-lock").getAttribute("aria-pressed") === "true",
    num_images: Number($("#num-images").value),
    steps: Number($("#steps").value),
    guidance: Number($("#guidance").value),
    scheduler: $("#scheduler").value,
    model: $("#model").value.trim(),
  };
}

function problem() {
  const upload = selectedUpload();
  const v = values();
  if (!upload) return "Upload or pick a photo first.";
  if (blockingUnacknowledged(upload)) return "This photo has blocking findings: fix the photo, or acknowledge them in the checklist.";
  if (!cropFields(upload.id)) return "The crop is still being placed…";
  if (!v.prompt && !currentRecipe()) return "Write a prompt: what the result should show, and what must be preserved.";
  if (!Number.isInteger(v.num_images) || v.num_images < 1 || v.num_images > 16) return "Images must be a whole number from 1 to 16.";
  if (!Number.isInteger(v.steps) || v.steps < 1 || v.steps > 150) return "Steps must be a whole number from 1 to 150.";
  if (!(v.guidance >= 0 && v.guidance <= 30)) return "Guidance must be between 0 and 30.";
  if (v.seedLocked && (v.seed === null || !Number.isInteger(v.seed) || v.seed < 0 || v.seed > MAX_SEED)) {
    return `A locked seed must be a whole number from 0 to ${MAX_SEED}.`;
  }
  const caps = modelCapabilities();
  const strength = !caps || caps.image_strength;
  if (strength && denoisingSteps(v.steps, v.image_strength) < 1) return "No denoising step would run: give more freedom or more steps.";
  return "";
}

function refresh() {
  followModel();
  const v = values();
  $("#strength-value").textContent = number(v.image_strength);
  const run = denoisingSteps(v.steps || 0, v.image_strength);
  const recipe = currentRecipe();
  let advice = "";
  if (recipe) {
    const [low, high] = recipe.strength_range;
    const inside = v.image_strength >= low - 1e-9 && v.image_strength <= high + 1e-9;
    advice = ` ${inside ? "Within" : "Outside"} the recipe's recommended ${number(low)}–${number(high)}.`;
  }
  $("#strength-effect").textContent =
    `${strengthWords(v.image_strength)} Runs ${run} of ${v.steps || 0} steps (denoising strength ${number(1 - v.image_strength)}).${advice}`;
  $("#prompt-preview").hidden = !recipe;
  if (recipe) $("#prompt-preview").textContent = `Prompt sent: ${fillPrompt(recipe.prompt, v.prompt)}`;
  $("#strength").setAttribute("aria-valuetext", `${number(v.image_strength)}: ${strengthWords(v.image_strength)}`);
  const why = submitting ? "Submitting…" : problem();
  $("#generate").disabled = Boolean(why);
  $("#generate-why").textContent = why;
}

function setLocked(locked) {
  const button = $("#seed-lock");
  button.setAttribute("aria-pressed", String(locked));
  button.textContent = locked ? "Locked" : "Unlocked";
  button.setAttribute("aria-label", locked ? "Seed locked: click to pick a new seed each run" : "Seed unlocked: click to keep this seed");
  localStorage.setItem("photogen.seedLocked", String(locked));
  refresh();
}

/** The payload of POST /v1/generations from the controls and the selected photo's crop. */
export function payload() {
  const upload = selectedUpload();
  const v = values();
  const caps = modelCapabilities();
  const body = {
    prompt: v.prompt,
    negative_prompt: v.negative_prompt,
    upload_id: upload.id,
    image_strength: v.image_strength,
    steps: v.steps,
    guidance: v.guidance,
    num_images: v.num_images,
    scheduler: v.scheduler,
    ...cropFields(upload.id),
  };
  // controls the model lacks are left out (the server would refuse them with 422)
  if (caps && !caps.image_strength) delete body.image_strength;
  if (caps && !caps.negative_prompt) delete body.negative_prompt;
  const recipe = currentRecipe();
  if (recipe) body.recipe = recipe.ref; // the prompt fills its template
  if (v.seedLocked) body.seed = v.seed;
  if (v.model) body.model = v.model;
  return body;
}

async function onSubmit(event) {
  event.preventDefault();
  if (problem() || submitting) return;
  submitting = true;
  refresh();
  try {
    const job = await submit(payload());
    $("#seed").value = String(job.request.seed);
    state.reviewJob = job.id;
    emit("review", job.id);
  } catch (err) {
    showError(err, "Generate");
  } finally {
    submitting = false;
    refresh();
  }
}

function onRecipe() {
  const recipe = currentRecipe();
  $("#prompt-label").textContent = recipe ? "Your details" : "Prompt";
  $("#prompt").placeholder = recipe ? "what is yours to add, e.g. navy blazer, short grey hair" : PROMPT_PLACEHOLDER;
  $("#prompt-help").textContent = recipe
    ? "Your words fill the recipe's {details}; the rest of the prompt comes from the recipe."
    : "One clear objective per run; say what must be preserved.";
  const help = $("#recipe-help");
  help.hidden = !recipe;
  if (recipe) {
    const [low, high] = recipe.strength_range;
    help.textContent = `${recipe.title} (${recipe.ref}): “${recipe.prompt}”. Recommended strength ${number(low)}–${number(high)}. ${recipe.notes}`;
    $("#negative").value = recipe.negative_prompt;
    $("#strength").value = String(recipe.image_strength);
    if (recipe.guidance != null) $("#guidance").value = String(recipe.guidance);
    if (recipe.crop_preset) usePreset(recipe.crop_preset);
  }
  refresh();
}

/** The recipes for the picker (a server without recipes answers 404: no picker then). */
export async function loadRecipes() {
  try {
    recipes = await api.recipes();
  } catch (err) {
    recipes = [];
    if (err.status !== 404) throw err;
  } finally {
    const select = $("#recipe");
    const chosen = select.value;
    select.replaceChildren(select.options[0], ...recipes.map((r) =>
      el("option", { value: r.ref, text: `${r.title}${r.builtin ? "" : ` (${r.ref})`}` })));
    select.value = recipes.some((r) => r.ref === chosen) ? chosen : "";
    select.disabled = recipes.length === 0;
    if (select.value !== chosen) onRecipe();
    else refresh();
  }
}

function applyDefaults(defaults) {
  const set = (selector, value) => {
    if (value !== undefined && value !== null) $(selector).value = String(value);
  };
  set("#strength", defaults.image_strength);
  set("#steps", defaults.steps);
  set("#guidance", defaults.guidance);
  const schedulers = defaults.schedulers || [];
  if (schedulers.length) {
    $("#scheduler").replaceChildren(...schedulers.map((name) => el("option", { value: name, text: name })));
    set("#scheduler", defaults.scheduler);
  }
}

export function initGenerate() {
  applyDefaults(state.defaults);
  setLocked(localStorage.getItem("photogen.seedLocked") === "true");
  $("#seed-lock").addEventListener("click", () => {
    const locked = $("#seed-lock").getAttribute("aria-pressed") !== "true";
    if (locked && $("#seed").value === "") $("#seed").value = String(Math.floor(Math.random() * 1_000_000));
    setLocked(locked);
  });
  $("#seed").addEventListener("input", () => {
    if ($("#seed").value !== "") setLocked(true);
  });
  const form = $("#generate-form");
  form.addEventListener("input", refresh);
  form.addEventListener("change", refresh);
  form.addEventListener("submit", onSubmit);
  $("#prompt").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });
  $("#recipe").addEventListener("change", onRecipe);
  for (const name of ["select", "uploads", "crop", "ack"]) on(name, refresh);
  refresh();
}
