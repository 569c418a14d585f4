// Step 4: a job's results as a grid; full size, before/after, download (PNG with its parameters
// embedded, or the record as JSON), re-run, "change one thing" with both runs side by side, and
// delete of the photo with everything made from it.

import { api, downloadAsset, downloadRecord, showImage } from "./api.js";
import { FINISHED, jobOf, remember, requestOf, submit } from "./jobs.js";
import { emit, on, state } from "./store.js";
import { deleteUpload } from "./upload.js";
import { $, definitionList, el, LABELS, number, parameterList, short, showError } from "./ui.js";
import { openCompare, openViewer } from "./viewer.js";

let comparison = null; // {base, next, field, from, to}
let shownAssets = ""; // ids of the results on screen, to redraw only when they change
let changeFor = null; // the job whose values the change form was filled from

const outputsOf = (job) => (job.assets || []).filter((a) => a.kind === "output").sort((a, b) => a.index - b.index);
const cropOf = (job) => (job.assets || []).find((a) => a.kind === "crop") || null;
const valueText = (value) => (typeof value === "number" ? number(value) : `“${value}”`);

function stateText(job) {
  const { step = 0, total = 0 } = job.progress || {};
  return {
    queued: "Queued: waiting for the worker…",
    running: `Running: step ${step} of ${total || "?"}…`,
    succeeded: `Done: ${outputsOf(job).length} images.`,
    failed: `Failed: ${job.error ? job.error.message : "no reason given"}`,
    canceled: "Canceled: no outputs were kept.",
    deleted: "Deleted.",
  }[job.state] || job.state;
}

function summary(job) {
  const r = job.request;
  const crop = r.crop_preset || (r.crop_box ? "custom crop" : "whole photo");
  return `Job ${short(job.id)} · “${r.prompt}” · strength ${number(r.image_strength)} · seed ${r.seed} · ${r.steps} steps · ${crop}`;
}

/** Actions on one output: full size, compare with the crop, download, parameters. */
export function resultItem(job, asset, list, position, { compact = false } = {}) {
  const caption = `Job ${short(job.id)} · image ${asset.index + 1} · seed ${asset.seed}`;
  const img = el("img", { alt: `Result ${asset.index + 1}, seed ${asset.seed}`, draggable: "false" });
  showImage(img, asset.url).catch(() => img.classList.add("broken"));
  const viewerItems = list.map((a) => ({ asset: a, caption: `Job ${short(job.id)} · image ${a.index + 1} · seed ${a.seed}` }));
  const crop = cropOf(job);
  return el(
    "li",
    { class: "result", dataset: { asset: asset.id, seed: String(asset.seed) } },
    el("button", { type: "button", class: "result-image", "aria-label": `Open ${caption} full size`,
      onclick: () => openViewer(viewerItems, position) }, img),
    el("p", { class: "caption", text: `Image ${asset.index + 1} · seed ${asset.seed} · ${asset.width}×${asset.height}` }),
    compact ? null : licenceLine(asset),
    el("div", { class: "row actions" },
      el("button", { type: "button", text: "Full size", "aria-label": `Full size: image ${asset.index + 1}`,
        onclick: () => openViewer(viewerItems, position) }),
      el("button", { type: "button", text: "Compare", "aria-label": `Compare image ${asset.index + 1} with the cropped source`,
        disabled: !crop, onclick: () => openCompare(crop, asset, caption) }),
      compact ? null : el("button", { type: "button", text: "Download", "aria-label": `Download image ${asset.index + 1} as PNG`,
        onclick: () => downloadAsset(asset).catch((err) => showError(err, "Download")) }),
      compact ? null : el("button", { type: "button", class: "quiet", text: "Parameters",
        "aria-label": `Download the parameters of image ${asset.index + 1} as JSON`,
        onclick: () => downloadRecord(asset).catch((err) => showError(err, "Parameters")) })),
  );
}

/** The model and its licence beside the download, so commercial-use questions have an answer. */
function licenceLine(asset) {
  const line = el("p", { class: "licence", text: "Model licence: …" });
  api.asset(asset.id).then((detail) => {
    const model = detail.record.model || {};
    const random = model.random_weights ? " (random weights, not a trained model)" : "";
    const terms = model.commercial_use ? ` · ${model.commercial_use.summary}` : "";
    line.textContent = `Model ${model.id || "unknown"}${random} · licence: ${model.licence || "not stated by the model"}${terms}`;
  }).catch(() => { line.textContent = "Model licence: unavailable"; });
  return line;
}

async function jobFor(id) {
  return jobOf(id) || remember(await api.job(id));
}

async function render() {
  const id = state.reviewJob;
  $("#review-empty").hidden = Boolean(id);
  $("#review-body").hidden = !id;
  if (!id) {
    shownAssets = "";
    $("#results").replaceChildren();
    $("#side-by-side").hidden = true;
    return;
  }
  let job;
  try {
    job = await jobFor(id);
  } catch (err) {
    showError(err, "Review");
    return;
  }
  if (state.reviewJob !== id) return;
  $("#review-summary").textContent = summary(job);
  $("#review-status").textContent = stateText(job);
  $("#review-panel").dataset.state = job.state;
  const bar = $("#review-progress");
  bar.hidden = FINISHED.has(job.state);
  bar.max = Math.max(1, job.progress.total || 1);
  bar.value = Math.min(job.progress.step || 0, bar.max);
  const outputs = outputsOf(job);
  const key = `${id}:${outputs.map((a) => a.id).join(",")}`;
  if (key !== shownAssets) {
    shownAssets = key;
    $("#results").replaceChildren(...outputs.map((asset, i) => resultItem(job, asset, outputs, i)));
  }
  $("#review-rerun").disabled = !FINISHED.has(job.state);
  $("#change-run").disabled = job.state !== "succeeded";
  $("#review-params").replaceChildren(definitionList(parameterList(job.request)));
  if (changeFor !== id) {
    changeFor = id;
    buildChangeValue(job);
  }
  renderSideBySide();
}

// -- change one thing ---------------------------------------------------------------------------

function buildChangeValue(job) {
  const field = $("#change-field").value;
  const current = job ? job.request[field] : null;
  const holder = $("#change-value-field");
  const label = el("label", { for: "change-value", text: `New ${LABELS[field].toLowerCase()}` });
  let input;
  if (field === "prompt" || field === "negative_prompt") {
    input = el("textarea", { id: "change-value", rows: "2" });
  } else if (field === "scheduler") {
    input = el("select", { id: "change-value" }, (state.defaults.schedulers || ["default"]).map((name) => el("option", { value: name, text: name })));
  } else {
    const limits = { image_strength: [0, 1, 0.05], seed: [0, 4294967295, 1], guidance: [0, 30, 0.5], steps: [1, 150, 1] }[field];
    input = el("input", { id: "change-value", type: "number", min: limits[0], max: limits[1], step: limits[2] });
  }
  if (current != null) input.value = String(current);
  holder.replaceChildren(label, input);
}

function readChange(field) {
  const raw = $("#change-value").value;
  if (field === "prompt" || field === "negative_prompt") return raw.trim();
  if (field === "scheduler") return raw;
  if (raw.trim() === "") return null;
  return Number(raw);
}

async function onChange(event) {
  event.preventDefault();
  const base = jobOf(state.reviewJob);
  if (!base || base.state !== "succeeded") return;
  const field = $("#change-field").value;
  const to = readChange(field);
  const from = base.request[field];
  if (to === null || Number.isNaN(to) || (field === "prompt" && !to)) {
    showError(new Error(`give a new value for ${LABELS[field].toLowerCase()}`), "Change one thing");
    return;
  }
  if (to === from) {
    showError(new Error(`${LABELS[field]} is already ${valueText(from)}: change it first`), "Change one thing");
    return;
  }
  $("#change-run").disabled = true;
  try {
    const next = await submit(requestOf(base, { [field]: to }));
    comparison = { base: base.id, next: next.id, field, from, to };
    renderSideBySide();
    $("#side-by-side").scrollIntoView({ block: "nearest", behavior: "smooth" });
  } catch (err) {
    showError(err, "Change one thing");
  } finally {
    $("#change-run").disabled = false;
  }
}

function column(job, heading) {
  const outputs = job ? outputsOf(job) : [];
  const { step = 0, total = 1 } = (job && job.progress) || {};
  const running = job && !FINISHED.has(job.state);
  return el(
    "div",
    { class: "sbs-col", dataset: { job: job ? job.id : "", state: job ? job.state : "" } },
    el("h4", { text: heading }),
    el("p", { class: "readout", text: job ? `Job ${short(job.id)} · ${stateText(job)}` : "" }),
    running ? el("progress", { max: String(Math.max(1, total)), value: String(step), "aria-label": `Progress of job ${short(job.id)}` }) : null,
    el("ul", { class: "results compact" }, outputs.map((asset, i) => resultItem(job, asset, outputs, i, { compact: true }))),
  );
}

function renderSideBySide() {
  const section = $("#side-by-side");
  const visible = comparison && [comparison.base, comparison.next].includes(state.reviewJob);
  section.hidden = !visible;
  if (!visible) return;
  const { base, next, field, from, to } = comparison;
  const label = LABELS[field];
  const baseJob = jobOf(base);
  const nextJob = jobOf(next);
  $("#sbs-summary").textContent =
    `Changed ${label.toLowerCase()}: ${valueText(from)} → ${valueText(to)}. Everything else is the same` +
    `${field === "seed" ? "" : `, seed ${baseJob ? baseJob.request.seed : ""} included`}.`;
  const key = [baseJob, nextJob].map((j) => (j ? `${j.id}:${j.state}:${j.progress.step}:${(j.assets || []).length}` : "")).join("|");
  if (section.dataset.key === key) return;
  section.dataset.key = key;
  $("#sbs-grid").replaceChildren(
    column(baseJob, `Before · ${label.toLowerCase()} ${valueText(from)}`),
    column(nextJob, `After · ${label.toLowerCase()} ${valueText(to)}`),
  );
}

// -- wiring -------------------------------------------------------------------------------------

export function initReview() {
  on("review", (id) => {
    state.reviewJob = id;
    render();
  });
  on("job", (job) => {
    if (job.id === state.reviewJob && job.state === "deleted") emit("review", null);
    else if (job.id === state.reviewJob) render();
    else if (comparison && [comparison.base, comparison.next].includes(job.id)) renderSideBySide();
  });
  $("#change-field").addEventListener("change", () => buildChangeValue(jobOf(state.reviewJob)));
  $("#change-form").addEventListener("submit", onChange);
  $("#review-rerun").addEventListener("click", async () => {
    const job = jobOf(state.reviewJob);
    if (!job) return;
    try {
      const next = await submit(requestOf(job));
      emit("review", next.id);
    } catch (err) {
      showError(err, "Re-run");
    }
  });
  $("#review-delete").addEventListener("click", () => {
    const job = jobOf(state.reviewJob);
    if (!job) return;
    deleteUpload(state.uploads.get(job.upload_id) || { id: job.upload_id, filename: "" });
  });
  on("deleted", () => {
    if (comparison && !(jobOf(comparison.base) && jobOf(comparison.next))) comparison = null;
  });
}

