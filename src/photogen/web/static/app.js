// photogen in the browser: upload -> checklist -> crop -> generate -> review, and history,
// all through the public REST API /v1. Plain ES modules, nothing fetched from elsewhere.

import { api, apiKey, setApiKey } from "./api.js";
import { initChecklist } from "./checklist.js";
import { initCrop } from "./crop.js";
import { initGenerate, loadRecipes } from "./generate.js";
import { initHistory } from "./history.js";
import { initIdentities } from "./identities.js";
import { initJobs, loadJobs } from "./jobs.js";
import { initReview } from "./review.js";
import { emit, on, state } from "./store.js";
import { $, clearErrors, showError } from "./ui.js";
import { initUpload, loadUploads, select } from "./upload.js";
import { initViewers } from "./viewer.js";

const VIEWS = ["create", "history", "identities"];

function initViews() {
  const show = (name) => {
    for (const view of VIEWS) {
      const current = view === name;
      $(`#tab-${view}`).setAttribute("aria-current", current ? "page" : "false");
      $(`#view-${view}`).hidden = !current;
    }
    if (location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
  };
  on("view", show); // registered first, so the view is shown before others react
  for (const view of VIEWS) $(`#tab-${view}`).addEventListener("click", () => emit("view", view));
  window.addEventListener("hashchange", () => {
    const name = location.hash.slice(1);
    if (VIEWS.includes(name)) emit("view", name);
  });
}

/** GenerationIn's defaults and the scheduler names, read from the API's own description. */
function defaultsFrom(openapi) {
  const props = (((openapi || {}).components || {}).schemas || {}).GenerationIn;
  const fields = (props && props.properties) || {};
  const pick = (name) => (fields[name] ? fields[name].default : undefined);
  return {
    image_strength: pick("image_strength"),
    steps: pick("steps"),
    guidance: pick("guidance"),
    scheduler: pick("scheduler"),
    schedulers: (fields.scheduler && fields.scheduler.enum) || ["default"],
  };
}

function keyState(health) {
  const saved = apiKey() ? "A key is saved in this browser and sent with every request." : "No key saved.";
  const server = health ? (health.auth ? "This server requires a key." : "This server is open to this machine; no key is needed.") : "";
  $("#key-state").textContent = `${saved} ${server}`.trim();
}

async function loadData() {
  const results = await Promise.allSettled([loadUploads(), loadJobs(), loadRecipes()]);
  for (const result of results) if (result.status === "rejected") showError(result.reason, "Loading");
  if (!state.selected && state.uploads.size) select([...state.uploads.keys()].pop());
}

function initSettings(health) {
  const form = $("#key-form");
  keyState(health);
  form.addEventListener("submit", async (event) => {
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
  const [health, presets, openapi, models] = await Promise.allSettled(
    [api.health(), api.presets(), api.openapi(), api.models()]);
  if (health.status === "rejected") showError(health.reason, "Server");
  if (presets.status === "rejected") showError(presets.reason, "Presets");
  state.presets = presets.status === "fulfilled" ? presets.value : [];
  state.models = models.status === "fulfilled" ? models.value : [];
  state.defaults = defaultsFrom(openapi.status === "fulfilled" ? openapi.value : null);

  initSettings(health.status === "fulfilled" ? health.value : null);
  initUpload();
  initChecklist();
  initCrop();
  initJobs();
  initGenerate();
  initReview();
  initHistory();
  initIdentities();
  initViewers();

  const start = location.hash.slice(1);
  emit("view", VIEWS.includes(start) ? start : "create");
  await loadData();
  document.body.dataset.ready = "true";
}

main().catch((err) => showError(err, "Starting the page"));
