// @ts-check
// Step 3: the controls of a generation and the Generate button. Generate is enabled only when a
// photo is uploaded, its blocking findings are acknowledged, its crop is ready and the values
// are valid; the reason is shown next to the button otherwise. The form is kept in local storage
// (only valid values come back after a reload), a recipe says what it would change before it does,
// and switching the recipe off puts the user's own values back.

import { api } from "./api.js";
import { cropFields, deliverySize, usePreset } from "./crop.js";
import { submit } from "./jobs.js";
import { referenceFields, referenceProblem } from "./refs.js";
import { blockingUnacknowledged, emit, keep, kept, on, selectedUpload, state } from "./store.js";
import { $, el, number, showError } from "./ui.js";

let submitting = false;
/** @type {any[]} from GET /v1/recipes */
let recipes = [];
/** @type {string} the recipe whose changes were applied or declined (its offer is not shown again) */
let answeredRecipe = "";
/** @type {Record<string, string> | null} the user's values before a recipe changed them */
let beforeRecipe = null;
/** @type {string | null} a recipe remembered from the last visit, chosen once the recipes are in */
let pendingRecipe = null;
const PROMPT_PLACEHOLDER = "Professional studio headshot, neutral background, soft daylight, preserve facial identity";

const MAX_SEED = 4294967295;
/** @param {number} steps @param {number} strength */
const denoisingSteps = (steps, strength) => Math.floor(steps * (1 - strength) + 1e-6);

/** @param {number} strength */
export function strengthWords(strength) {
  if (strength >= 0.7) return "Keeps the source closely: lighting fixes, skin polish, a cleaner backdrop.";
  if (strength >= 0.5) return "Keeps identity, pose and product shape, with room to polish.";
  if (strength >= 0.2) return "Room for a new outfit, scene or style; faces and shapes may drift.";
  return "Mostly a new picture: the photo is only a loose hint.";
}

/** Comma-separated phrases, trimmed, compared without case. @param {string} text */
const phrases = (text) => text.split(",").map((p) => p.trim()).filter(Boolean);

/** The user's details without the phrases the recipe's template says already (so none is sent twice).
 * @param {string} template @param {string} details */
export function ownDetails(template, details) {
  const said = new Set(phrases(template.replace("{details}", "")).map((p) => p.toLowerCase()));
  const seen = new Set();
  return phrases(details).filter((p) => {
    const key = p.toLowerCase();
    if (said.has(key) || seen.has(key)) return false;
    seen.add(key);
    return true;
  }).join(", ");
}

/** The recipe's template with the user's words in place of {details}, as the server fills it.
 * @param {string} template @param {string} details */
export function fillPrompt(template, details) {
  const words = details.trim();
  if (template.includes("{details}")) return template.replace("{details}", words).replace(/ ,/g, ",").replace(/^[ ,]+|[ ,]+$/g, "");
  return words ? `${template}, ${words}` : template;
}

const currentRecipe = () => recipes.find((r) => r.ref === $("#recipe").value) || null;

/** The capabilities of the model the form names (the server's default when empty); null when unknown. */
function modelCapabilities() {
  const name = $("#model").value;
  const model = state.models.find((m) => (name ? m.id === name : m.default));
  return model ? model.capabilities : null;
}

/** @type {any} the capabilities the controls were last laid out for */
let shownFor = null;

/** Show only the controls the model has: no strength for edit models, no negative prompt without CFG, its
 * own schedulers; an edit model's prompt is an instruction. */
function followModel() {
  const caps = modelCapabilities();
  if (caps === shownFor) return;
  const first = shownFor === null;
  shownFor = caps;
  const strength = !caps || caps.image_strength;
  $("fieldset.strength").hidden = !strength;
  const negative = !caps || caps.negative_prompt;
  $("#negative").hidden = !negative;
  $('label[for="negative"]').hidden = !negative;
  const instruction = caps && caps.prompt_kind === "instruction";
  if (!currentRecipe()) $("#prompt-label").textContent = instruction ? "Instruction" : "Prompt";
  $("#prompt").placeholder = instruction ? "Say what to change, e.g. make the jacket navy, keep the face" : PROMPT_PLACEHOLDER;
  // the model's own steps and guidance where it has them (edit models run few steps at low guidance);
  // not on the first layout, which keeps the values the page came back with
  if (!first) {
    const steps = caps && caps.default_steps != null ? caps.default_steps : state.defaults.steps;
    const guidance = caps && caps.default_guidance != null ? caps.default_guidance : state.defaults.guidance;
    if (steps != null) $("#steps").value = String(steps);
    if (guidance != null && !(currentRecipe() && currentRecipe().guidance != null)) $("#guidance").value = String(guidance);
  }
  const schedulers = caps ? caps.schedulers : state.defaults.schedulers || ["default"];
  const chosen = $("#scheduler").value;
  $("#scheduler").replaceChildren(...schedulers.map((/** @type {string} */ name) => el("option", { value: name, text: name })));
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
    model: $("#model").value,
    deliver: $("#deliver").checked,
  };
}

/** @param {any} seed */
const validSeed = (seed) => seed !== null && seed !== "" && Number.isInteger(Number(seed)) && Number(seed) >= 0 && Number(seed) <= MAX_SEED;

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
  if (v.seedLocked && !validSeed(v.seed)) return `A locked seed must be a whole number from 0 to ${MAX_SEED}.`;
  const caps = modelCapabilities();
  const strength = !caps || caps.image_strength;
  if (strength && denoisingSteps(v.steps, v.image_strength) < 1) return "No denoising step would run: give more freedom or more steps.";
  return referenceProblem();
}

function deliveryHelp() {
  const upload = selectedUpload();
  const target = deliverySize(upload ? upload.id : null);
  $("#deliver").disabled = !target;
  $("#deliver-help").textContent = target
    ? `${$("#deliver").checked ? "On" : "Off"}: ${$("#deliver").checked
      ? `each image also comes at ${target.size[0]}×${target.size[1]} px, enlarged by the upscale pass (a step of its own in lineage).`
      : "the model's native size only."}`
    : "This crop has no fixed delivery size: images come at the model's native size.";
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
  if (recipe) $("#prompt-preview").textContent = `Prompt sent: ${fillPrompt(recipe.prompt, ownDetails(recipe.prompt, v.prompt))}`;
  $("#strength").setAttribute("aria-valuetext", `${number(v.image_strength)}: ${strengthWords(v.image_strength)}`);
  deliveryHelp();
  const why = submitting ? "Submitting…" : problem();
  $("#generate").disabled = Boolean(why);
  $("#generate-why").textContent = why;
  saveForm();
}

/** @param {boolean} locked */
function setLocked(locked) {
  const button = $("#seed-lock");
  button.setAttribute("aria-pressed", String(locked));
  button.textContent = locked ? "Locked" : "Unlocked";
  button.setAttribute("aria-label", locked ? "Seed locked: click to pick a new seed each run" : "Seed unlocked: click to keep this seed");
  refresh();
}

// -- the form across reloads ---------------------------------------------------------------------

let restoring = true; // nothing is saved until the saved values are back

function saveForm() {
  if (restoring) return;
  const v = values();
  keep("form", {
    prompt: $("#prompt").value, negative: $("#negative").value, strength: v.image_strength,
    seed: $("#seed").value, seedLocked: v.seedLocked, images: v.num_images, steps: v.steps, guidance: v.guidance,
    scheduler: v.scheduler, model: v.model, deliver: v.deliver, recipe: $("#recipe").value,
  });
}

/** Put back the saved form, each value only where it is valid; a locked seed only with a seed to lock. */
function restoreForm() {
  const saved = kept("form", /** @type {any} */ (null));
  if (saved && typeof saved === "object") {
    const text = (/** @type {any} */ v) => (typeof v === "string" ? v.slice(0, 2000) : null);
    const within = (/** @type {any} */ v, /** @type {number} */ low, /** @type {number} */ high, whole = false) =>
      typeof v === "number" && v >= low && v <= high && (!whole || Number.isInteger(v));
    if (text(saved.prompt) !== null) $("#prompt").value = saved.prompt;
    if (text(saved.negative) !== null) $("#negative").value = saved.negative;
    if (within(saved.strength, 0, 1)) $("#strength").value = String(saved.strength);
    if (within(saved.images, 1, 16, true)) $("#num-images").value = String(saved.images);
    if (within(saved.steps, 1, 150, true)) $("#steps").value = String(saved.steps);
    if (within(saved.guidance, 0, 30)) $("#guidance").value = String(saved.guidance);
    if (typeof saved.model === "string" && state.models.some((m) => m.id === saved.model)) $("#model").value = saved.model;
    if (typeof saved.deliver === "boolean") $("#deliver").checked = saved.deliver;
    const seed = validSeed(saved.seed) ? String(Number(saved.seed)) : "";
    $("#seed").value = seed;
    followModel();
    if (typeof saved.scheduler === "string" && [...$("#scheduler").options].some((o) => o.value === saved.scheduler)) {
      $("#scheduler").value = saved.scheduler;
    }
    if (typeof saved.recipe === "string" && saved.recipe) pendingRecipe = saved.recipe;
    setLocked(Boolean(saved.seedLocked) && seed !== "");
  } else {
    setLocked(false);
  }
  restoring = false;
  refresh();
}

/** Fill the form from a job's request, so what is shown under Generate is what made the results.
 * @param {any} job */
export function fillFromJob(job) {
  const r = job.request || {};
  restoring = true;
  if (typeof r.prompt === "string") $("#prompt").value = r.prompt;
  $("#negative").value = r.negative_prompt || "";
  if (typeof r.image_strength === "number") $("#strength").value = String(r.image_strength);
  if (typeof r.steps === "number") $("#steps").value = String(r.steps);
  if (typeof r.guidance === "number") $("#guidance").value = String(r.guidance);
  if (typeof r.num_images === "number") $("#num-images").value = String(r.num_images);
  $("#model").value = state.models.some((m) => m.id === r.model) ? r.model : "";
  followModel();
  if ([...$("#scheduler").options].some((o) => o.value === r.scheduler)) $("#scheduler").value = r.scheduler;
  $("#recipe").value = ""; // the recorded prompt is the filled one: no recipe fills it again
  recipeLabels(null);
  answeredRecipe = "";
  beforeRecipe = null;
  $("#recipe-changes").hidden = true;
  if (validSeed(r.seed)) $("#seed").value = String(r.seed);
  restoring = false;
  setLocked(validSeed(r.seed));
}

// -- submitting ----------------------------------------------------------------------------------

/** The payload of POST /v1/generations from the controls and the selected photo's crop. */
export function payload() {
  const upload = /** @type {any} */ (selectedUpload());
  const v = values();
  const caps = modelCapabilities();
  const recipe = currentRecipe();
  /** @type {any} */
  const body = {
    prompt: recipe ? ownDetails(recipe.prompt, v.prompt) : v.prompt,
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
  if (recipe) body.recipe = recipe.ref; // the prompt fills its template
  if (v.seedLocked) body.seed = v.seed;
  if (v.model) body.model = v.model;
  if (v.deliver && deliverySize(upload.id)) body.delivery = "preset";
  Object.assign(body, referenceFields());
  return body;
}

/** @param {Event} event */
async function onSubmit(event) {
  event.preventDefault();
  if (problem() || submitting) return;
  submitting = true;
  refresh();
  let job = null;
  try {
    job = await submit(payload());
    $("#seed").value = String(job.request.seed);
    emit("review", job.id);
  } catch (err) {
    showError(err, "Generate");
  } finally {
    submitting = false;
    refresh();
  }
  if (job) emit("submitted", job.id);
}

// -- recipes: what they would change, applied on confirmation, undone when switched off ------------

/** @param {any} recipe */
function recipeLabels(recipe) {
  $("#prompt-label").textContent = recipe ? "Your details" : "Prompt";
  $("#prompt").placeholder = recipe ? "what is yours to add, e.g. navy blazer, short grey hair" : PROMPT_PLACEHOLDER;
  $("#prompt-help").textContent = recipe
    ? "Your words fill the recipe's {details}; the rest of the prompt comes from the recipe. Words it says already are not sent twice."
    : "One clear objective per run; say what must be preserved.";
  const help = $("#recipe-help");
  help.hidden = !recipe;
  if (recipe) {
    const [low, high] = recipe.strength_range;
    help.textContent = `${recipe.title} (${recipe.ref}): “${recipe.prompt}”. Recommended strength ${number(low)}–${number(high)}. ${recipe.notes}`;
  }
}

/** What the recipe would change in the form: [id, label, now, then]. @param {any} recipe */
function recipeChanges(recipe) {
  /** @type {[string, string, string, string][]} */
  const changes = [];
  const add = (/** @type {string} */ id, /** @type {string} */ label, /** @type {any} */ value) => {
    if (value === null || value === undefined) return;
    const now = $(id).value;
    if (String(now) !== String(value)) changes.push([id, label, now, String(value)]);
  };
  add("#negative", "Negative prompt", recipe.negative_prompt);
  add("#strength", "Image strength", recipe.image_strength);
  add("#guidance", "Guidance", recipe.guidance);
  if (recipe.crop_preset && $("#preset").value !== recipe.crop_preset) {
    changes.push(["#preset", "What the photo is for", $("#preset").value, recipe.crop_preset]);
  }
  return changes;
}

function showRecipeChanges() {
  const recipe = currentRecipe();
  const box = $("#recipe-changes");
  const changes = recipe && answeredRecipe !== recipe.ref ? recipeChanges(recipe) : [];
  box.hidden = !changes.length;
  $("#recipe-change-list").replaceChildren(...changes.map(([, label, now, then]) =>
    el("li", { text: `${label}: ${now === "" ? "(empty)" : `“${now}”`} → “${then}”` })));
}

function applyRecipe() {
  const recipe = currentRecipe();
  if (!recipe) return;
  const changes = recipeChanges(recipe);
  beforeRecipe = beforeRecipe || Object.fromEntries(changes.map(([id, , now]) => [id, now]));
  for (const [id, , , then] of changes) {
    if (id === "#preset") usePreset(then);
    else $(id).value = then;
  }
  answeredRecipe = recipe.ref;
  showRecipeChanges();
  refresh();
}

function onRecipe() {
  const recipe = currentRecipe();
  recipeLabels(recipe);
  if (beforeRecipe) { // the values the user had before a recipe changed them come back
    for (const [id, value] of Object.entries(beforeRecipe)) {
      if (id === "#preset") usePreset(value);
      else $(id).value = value;
    }
    beforeRecipe = null;
  }
  answeredRecipe = "";
  showRecipeChanges();
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
    const chosen = pendingRecipe || select.value;
    pendingRecipe = null;
    select.replaceChildren(select.options[0], ...recipes.map((r) =>
      el("option", { value: r.ref, text: `${r.title}${r.builtin ? "" : ` (${r.ref})`}` })));
    select.value = recipes.some((r) => r.ref === chosen) ? chosen : "";
    select.disabled = recipes.length === 0;
    const recipe = currentRecipe();
    recipeLabels(recipe);
    if (recipe) answeredRecipe = recipe.ref; // a recipe coming back with the page: its values are the form's already
    showRecipeChanges();
    refresh();
  }
}

/** @param {any} defaults */
function applyDefaults(defaults) {
  const set = (/** @type {string} */ selector, /** @type {any} */ value) => {
    if (value !== undefined && value !== null) $(selector).value = String(value);
  };
  set("#strength", defaults.image_strength);
  set("#steps", defaults.steps);
  set("#guidance", defaults.guidance);
  const schedulers = defaults.schedulers || [];
  if (schedulers.length) {
    $("#scheduler").replaceChildren(...schedulers.map((/** @type {string} */ name) => el("option", { value: name, text: name })));
    set("#scheduler", defaults.scheduler);
  }
}

/** The model picker: the server's catalogue (GET /v1/models), the default first. */
function fillModels() {
  const select = $("#model");
  const models = [...state.models].sort((a, b) => Number(b.default) - Number(a.default));
  select.replaceChildren(el("option", { value: "", text: "Server's default" }), ...models.map((m) =>
    el("option", { value: m.id, disabled: m.available === false ? true : null,
      text: `${m.id}${m.default ? " (default)" : ""}${m.family ? ` · ${m.family}` : ""}${m.available === false ? " · not downloaded" : ""}` })));
}

export function initGenerate() {
  applyDefaults(state.defaults);
  fillModels();
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
  $("#prompt").addEventListener("keydown", (/** @type {KeyboardEvent} */ event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });
  $("#recipe").addEventListener("change", onRecipe);
  $("#recipe-apply").addEventListener("click", applyRecipe);
  $("#recipe-keep").addEventListener("click", () => {
    const recipe = currentRecipe();
    answeredRecipe = recipe ? recipe.ref : "";
    showRecipeChanges();
  });
  for (const name of ["select", "uploads", "crop", "ack"]) on(name, refresh);
  on("crop", showRecipeChanges);
  restoreForm();
}
