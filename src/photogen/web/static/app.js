// @ts-check
// photogen in the browser: upload -> checklist -> crop -> generate -> review, and history,
// all through the public REST API /v1. Plain ES modules, nothing fetched from elsewhere.
// The photo and job under work are in the address (?photo=…&job=…), so a reload comes back to them.

import { api, apiKey, setApiKey } from "./api.js";
import { initChecklist } from "./checklist.js";
import { initCrop } from "./crop.js";
import { initGenerate, loadRecipes } from "./generate.js";
import { initHistory } from "./history.js";
import { initIdentities } from "./identities.js";
import { focusJob, initJobs, jobOf, loadJobs } from "./jobs.js";
import { openJob } from "./open.js";
import { initRefs } from "./refs.js";
import { initReview } from "./review.js";
import { emit, fromUrl, kept, on, state } from "./store.js";
import { $, clearErrors, placeNotices, showError } from "./ui.js";
import { initUpload, loadUploads, select, startingPhoto } from "./upload.js";
import { initViewers } from "./viewer.js";

const VIEWS = ["create", "history", "identities", "restore"];
const STEPS = ["photos", "crop", "generate", "review"];
const NARROW = "(max-width: 52rem)";

function initViews() {
  const show = (/** @type {string} */ name) => {
    for (const view of VIEWS) {
      const current = view === name;
      $(`#tab-${view}`).setAttribute("aria-current", current ? "page" : "false");
      $(`#view-${view}`).hidden = !current;
    }
    if (location.hash !== `#${name}`) history.replaceState(null, "", `${location.pathname}${location.search}#${name}`);
  };
  on("view", show); // registered first, so the view is shown before others react
  for (const view of VIEWS) $(`#tab-${view}`).addEventListener("click", () => emit("view", view));
  window.addEventListener("hashchange", () => {
    const name = location.hash.slice(1);
    if (VIEWS.includes(name)) emit("view", name);
  });
}

/** On a phone, one step at a time under a sticky step bar; on wider screens the bar is hidden and every
 * step shows, the results beside the form. */
function initSteps() {
  const view = $("#view-create");
  const bar = $("#step-bar");
  on("step", (/** @type {string} */ name) => {
    if (!STEPS.includes(name)) return;
    view.dataset.step = name;
    for (const button of bar.querySelectorAll("button")) {
      if (button.dataset.step === name) button.setAttribute("aria-current", "step");
      else button.removeAttribute("aria-current");
    }
    if (window.matchMedia(NARROW).matches) window.scrollTo({ top: 0 });
  });
  for (const button of bar.querySelectorAll("button")) {
    button.addEventListener("click", () => emit("step", button.dataset.step));
  }
  // the results in view: on a phone the Review step; on a wide screen they are beside the form already
  on("show-review", () => {
    emit("step", "review");
    const panel = $("#review-panel");
    if (!window.matchMedia(NARROW).matches) panel.scrollIntoView({ block: "nearest" });
    $("#review-heading").focus({ preventScroll: window.matchMedia(NARROW).matches });
  });
  on("submitted", (/** @type {string} */ id) => {
    if (window.matchMedia(NARROW).matches) emit("step", "review");
    focusJob(id);
    const card = document.querySelector(`#jobs .job[data-job="${id}"]`);
    if (window.matchMedia(NARROW).matches && card) card.scrollIntoView({ block: "start" });
  });
  window.addEventListener("resize", placeNotices);
  window.addEventListener("scroll", placeNotices, { passive: true });
}

/** GenerationIn's defaults and the scheduler names, read from the API's own description. @param {any} openapi */
function defaultsFrom(openapi) {
  const props = (((openapi || {}).components || {}).schemas || {}).GenerationIn;
  const fields = (props && props.properties) || {};
  const pick = (/** @type {string} */ name) => (fields[name] ? fields[name].default : undefined);
  return {
    image_strength: pick("image_strength"),
    steps: pick("steps"),
    guidance: pick("guidance"),
    scheduler: pick("scheduler"),
    schedulers: (fields.scheduler && fields.scheduler.enum) || ["default"],
  };
}

/** @param {any} health */
function keyState(health) {
  const saved = apiKey() ? "A key is saved in this browser and sent with every request." : "No key saved.";
  const server = health ? (health.auth ? "This server requires a key." : "This server is open to this machine; no key is needed.") : "";
  $("#key-state").textContent = `${saved} ${server}`.trim();
}

async function loadData() {
  const results = await Promise.allSettled([loadUploads(), loadJobs(), loadRecipes()]);
  for (const result of results) if (result.status === "rejected") showError(result.reason, "Loading");
  // what survives a reload: acknowledgements of photos that still exist, the photo and job of the address
  state.acknowledged = new Set(kept("acknowledged", /** @type {string[]} */ ([])).filter((id) => state.uploads.has(id)));
  const wanted = fromUrl();
  if (!state.selected) select(startingPhoto(wanted.photo));
  emit("ack", state.selected);
  const jobId = wanted.job || (wanted.photo ? null : kept("job", null));
  if (jobId && !state.reviewJob) {
    const known = jobOf(jobId);
    try {
      const job = known || await api.job(jobId);
      if (!wanted.photo || job.upload_id === wanted.photo) emit("review", job.id);
    } catch {
      emit("review", null); // gone: nothing invalid comes back
    }
  }
}

/** @param {any} health */
function initSettings(health) {
  const form = $("#key-form");
  keyState(health);
  form.addEventListener("submit", async (/** @type {Event} */ event) => {
    event.preventDefault();
    setApiKey($("#api-key").value.trim());
    $("#api-key").value = "";
    keyState(await api.health().catch(() => health));
    $("#settings").open = false;
    clearErrors();
    await loadData();
  });
  $("#key-forget").addEventListener("click", () => {
    setApiKey("");
    keyState(health);
  });
}

async function main() {
  initViews();
  initSteps();
  const [health, presets, openapi, models] = await Promise.allSettled(
    [api.health(), api.presets(), api.openapi(), api.models()]);
  if (health.status === "rejected") showError(health.reason, "Server");
  if (presets.status === "rejected") showError(presets.reason, "Presets");
  state.presets = presets.status === "fulfilled" ? presets.value : [];
  state.models = models.status === "fulfilled" ? models.value : [];
  state.defaults = defaultsFrom(openapi.status === "fulfilled" ? openapi.value : null);

  initSettings(health.status === "fulfilled" ? health.value : null);
  initCrop(); // fills "What is the photo for?", which uploads read
  initUpload();
  initChecklist();
  initJobs();
  initGenerate();
  initReview();
  initHistory();
  initIdentities();
  initViewers();
  initRefs();

  const start = location.hash.slice(1);
  emit("view", VIEWS.includes(start) ? start : "create");
  await loadData();
  document.body.dataset.ready = "true";
}

export { openJob };
main().catch((err) => showError(err, "Starting the page"));
