// @ts-check
// Step 4: a job's results as a grid: each card with its review scores (identity, structure, a drift
// badge with its fix), the size it was delivered at, a star, delete with undo, full size, before/after,
// download (PNG with its parameters embedded, or the record as JSON), use as a new source, upscale
// x2/x4 and print advice. The grid sorts by identity and filters by stars; "Download all" makes a zip.
// Re-run, "change one thing" (POST /v1/jobs/{id}/vary, for all images or one) with both runs side by
// side, delete of the job with undo, and, apart from those, delete of the photo with everything made from it.

import { api, downloadAsset, downloadRecord, saveBlob, showImage } from "./api.js";
import { deleteJob, FINISHED, focusJob, jobOf, previewOf, remember, requestOf, submit, track } from "./jobs.js";
import { emit, keep, kept, on, stars, state, writeUrl } from "./store.js";
import { deleteUpload, uploadOne } from "./upload.js";
import { $, definitionList, el, LABELS, number, offerUndo, parameterList, short, showError, showInfo } from "./ui.js";
import { openCompare, openViewer } from "./viewer.js";
import { zipBlob } from "./zip.js";

/** @type {{base: string, next: string, field: string, from: any, to: any, index?: number | null} | null} */
let comparison = kept("comparison", null);
let shownAssets = ""; // what the grid shows, to redraw only when it changes
/** @type {string | null} the job whose values the change form was filled from */
let changeFor = null;
/** @type {Set<string>} outputs deleted a moment ago, hidden while their undo is offered */
const hiddenAssets = new Set();
/** @type {Map<string, any>} asset id -> its full record (GET /v1/assets/{id}), read once */
const details = new Map();

/** @param {any} job @returns {any[]} */
const outputsOf = (job) => (job.assets || []).filter((/** @type {any} */ a) => a.kind === "output").sort((/** @type {any} */ a, /** @type {any} */ b) => a.index - b.index);
/** @param {any} job */
const cropOf = (job) => (job.assets || []).find((/** @type {any} */ a) => a.kind === "crop") || null;
/** The delivered (preset-size) version of an output, made in the same job. @param {any} job @param {any} asset */
const deliveredOf = (job, asset) => (job.assets || []).find((/** @type {any} */ a) => a.kind === "upscale" && a.parent_asset_id === asset.id) || null;
/** @param {any} value */
const valueText = (value) => (typeof value === "number" ? number(value) : `“${value}”`);

/** @param {string} id */
function detailOf(id) {
  if (!details.has(id)) {
    const loading = api.asset(id);
    loading.catch(() => details.delete(id));
    details.set(id, loading);
  }
  return details.get(id);
}

/** @param {any} job */
function stateText(job) {
  const { step = 0, total = 0 } = job.progress || {};
  const share = total ? Math.round((100 * step) / total) : 0;
  return /** @type {Record<string, string>} */ ({
    queued: "Queued: waiting for the worker…",
    running: step ? `Generating: ${share}%…`
      : job.progress && job.progress.phase === "loading_model" ? "Loading the model…" : "Preparing the photo…",
    succeeded: `Done: ${outputsOf(job).length} images.`,
    failed: `Failed: ${job.error ? job.error.message : "no reason given"}`,
    canceled: "Canceled: no outputs were kept.",
    deleted: "Deleted.",
  })[job.state] || job.state;
}

/** @param {any} job */
function summary(job) {
  const r = job.request;
  if (job.kind === "sweep" && r.sweep) {
    const { field, values } = r.sweep;
    return `Job ${short(job.id)} · “${r.prompt}” · sweep of ${(LABELS[field] || field).toLowerCase()}: ${(values || []).map((/** @type {any} */ v) => number(v)).join(", ")} · seed ${r.seed}`;
  }
  const crop = r.crop_preset || (r.crop_box ? "custom crop" : "whole photo");
  return `Job ${short(job.id)} · “${r.prompt}” · strength ${number(r.image_strength)} · seed ${r.seed} · ${r.steps} steps · ${crop}`;
}

// -- one result ---------------------------------------------------------------------------------

/** Identity and structure scores in words, and the drift badge with its fix. @param {any} scores */
function scoreLine(scores) {
  if (!scores) return null;
  const parts = [];
  if (typeof scores.identity === "number") parts.push(`identity ${number(scores.identity)}`);
  else if (scores.identity_note) parts.push(scores.identity_note);
  if (typeof scores.structure === "number") parts.push(`structure ${number(scores.structure)}`);
  const set = scores.identity_set;
  if (set && typeof set.best === "number") parts.push(`vs the set ${number(set.best)} best`);
  const angle = scores.angle;
  if (angle && typeof angle.requested === "number") {
    parts.push(`head turn ${angle.requested}° asked${typeof angle.turned === "number" ? `, ${number(angle.turned, 1)}° made` : ""}`);
  }
  const flags = Array.isArray(scores.drift) ? scores.drift : [];
  return el("div", { class: "scores" },
    el("p", { class: "score-line", text: parts.join(" · ") }),
    scores.identity_drift
      ? el("p", { class: "drift", role: "note" }, el("span", { class: "badge-drift", text: "Identity drift" }), ` Fix: ${scores.fix || "raise image strength"}`)
      : null,
    flags.includes("identity_set")
      ? el("p", { class: "drift", role: "note" }, el("span", { class: "badge-drift", text: "Not the set's person" }),
        " Fix: raise image strength, or use references closer to the source's angle and light")
      : null,
    flags.includes("angle")
      ? el("p", { class: "drift", role: "note" }, el("span", { class: "badge-drift", text: "Head turn missed" }),
        " Fix: ask for a smaller turn, or add a reference photo at that angle")
      : null);
}

/**
 * A result card: the image and what can be done with it.
 * @param {any} job @param {any} asset @param {any[]} list @param {number} position @param {{compact?: boolean}} [options]
 */
export function resultItem(job, asset, list, position, { compact = false } = {}) {
  const caption = `Job ${short(job.id)} · image ${asset.index + 1} · seed ${asset.seed}`;
  const img = el("img", { alt: `Result ${asset.index + 1}, seed ${asset.seed}`, draggable: "false" });
  showImage(img, asset.url).catch(() => img.classList.add("broken"));
  const viewerItems = list.map((a) => ({ asset: a, caption: `Job ${short(job.id)} · image ${a.index + 1} · seed ${a.seed}` }));
  const crop = cropOf(job);
  const delivered = deliveredOf(job, asset);
  const starred = stars.has(asset.id);
  const n = asset.index + 1;
  const sweepValue = el("p", { class: "sweep-value", hidden: true });
  if (job.kind === "sweep") {
    detailOf(asset.id).then((detail) => {
      const sweep = detail.record && detail.record.sweep;
      if (sweep) {
        sweepValue.textContent = `${LABELS[sweep.field] || sweep.field} ${number(sweep.value)}`;
        sweepValue.hidden = false;
      }
    }).catch(() => {});
  }
  const item = el(
    "li",
    { class: `result${starred ? " starred" : ""}`, dataset: { asset: asset.id, seed: String(asset.seed) } },
    el("div", { class: "result-frame" },
      el("button", { type: "button", class: "result-image", "aria-label": `Open ${caption} full size`,
        onclick: () => openViewer(viewerItems, position) }, img),
      el("button", { type: "button", class: "star", "aria-pressed": String(starred), text: starred ? "★" : "☆",
        "aria-label": `Star image ${n}`, title: "Star: pick this one", onclick: () => stars.toggle(asset.id) }),
      compact ? null : el("button", { type: "button", class: "result-delete", text: "×", "aria-label": `Delete image ${n}`,
        title: "Delete this image", onclick: () => deleteOutput(job, asset) })),
    el("p", { class: "caption", text: `Image ${n} · seed ${asset.seed} · ${asset.width}×${asset.height}` }),
    sweepValue,
    delivered ? el("p", { class: "delivered", text: `Delivered at ${delivered.width}×${delivered.height} (upscale pass)` }) : null,
    scoreLine(asset.scores),
    compact ? null : licenceLine(asset),
    el("div", { class: "row actions" },
      el("button", { type: "button", text: "Full size", "aria-label": `Full size: image ${n}`,
        onclick: () => openViewer(viewerItems, position) }),
      el("button", { type: "button", text: "Compare", "aria-label": `Compare image ${n} with the cropped source`,
        disabled: !crop, onclick: () => openCompare(crop, asset, caption) }),
      compact ? null : el("button", { type: "button", text: "Download", "aria-label": `Download image ${n} as PNG`,
        title: delivered ? `${delivered.width}×${delivered.height}, as delivered` : undefined,
        onclick: () => downloadAsset(asset).catch((err) => showError(err, "Download")) }),
      compact || !delivered ? null : el("button", { type: "button", text: `${delivered.width}×${delivered.height}`,
        "aria-label": `Download image ${n} as delivered, ${delivered.width}×${delivered.height} PNG`,
        onclick: () => downloadAsset(delivered).catch((err) => showError(err, "Download")) }),
      compact ? null : el("button", { type: "button", class: "quiet", text: "Parameters",
        "aria-label": `Download the parameters of image ${n} as JSON`,
        onclick: () => downloadRecord(asset).catch((err) => showError(err, "Parameters")) }),
      compact ? null : el("button", { type: "button", class: "quiet", text: "Use as source",
        "aria-label": `Use image ${n} as a new source photo`, onclick: () => useAsSource(job, asset) })),
    compact ? null : moreTools(asset, n),
  );
  return item;
}

/** Upscale x2 / x4 and print advice for one output. @param {any} asset @param {number} n */
function moreTools(asset, n) {
  const out = el("p", { class: "readout tool-result", "aria-live": "polite" });
  const unit = el("select", { "aria-label": `Print unit for image ${n}` }, el("option", { value: "cm", text: "cm" }), el("option", { value: "in", text: "in" }));
  const width = el("input", { type: "number", min: "1", step: "any", value: "20", "aria-label": `Print width for image ${n}` });
  const height = el("input", { type: "number", min: "1", step: "any", value: "25", "aria-label": `Print height for image ${n}` });
  const upscale = async (/** @type {2 | 4} */ factor) => {
    out.textContent = `Enlarging ×${factor}…`;
    try {
      const job = track(await api.upscale(asset.id, factor));
      const done = await waitFor(job.id);
      const made = (done.assets || []).find((/** @type {any} */ a) => a.kind === "upscale");
      if (done.state !== "succeeded" || !made) throw new Error(done.error ? done.error.message : `the upscale ${done.state}`);
      out.replaceChildren(`×${factor}: ${made.width}×${made.height} px. `,
        el("button", { type: "button", text: "Download", "aria-label": `Download image ${n} enlarged ×${factor}`,
          onclick: () => downloadAsset(made).catch((err) => showError(err, "Download")) }));
    } catch (err) {
      out.textContent = "";
      showError(err, `Upscale ×${factor}`);
    }
  };
  const advise = async () => {
    try {
      const advice = await api.printAdvice({ width_px: asset.width, height_px: asset.height,
        print: { width: Number(width.value), height: Number(height.value), unit: unit.value, dpi: 300 } });
      const factor = advice.recommended_factor;
      out.textContent = `${width.value}×${height.value} ${unit.value} at 300 DPI needs ${advice.required_px[0]}×${advice.required_px[1]} px: `
        + (factor === 1 ? "this image is big enough as it is." : factor ? `upscale ×${factor}.` : "even ×4 falls short; print smaller or accept a lower DPI.")
        + (advice.warning ? ` ${advice.warning}` : "");
    } catch (err) {
      showError(err, "Print advice");
    }
  };
  return el("details", { class: "more-tools" }, el("summary", { text: "Upscale and print" }),
    el("div", { class: "row" },
      el("button", { type: "button", text: "Upscale ×2", "aria-label": `Upscale image ${n} ×2`, onclick: () => upscale(2) }),
      el("button", { type: "button", text: "Upscale ×4", "aria-label": `Upscale image ${n} ×4`, onclick: () => upscale(4) })),
    el("div", { class: "row print-form" }, width, el("span", { text: "×" }), height, unit,
      el("button", { type: "button", text: "Print advice", "aria-label": `Print advice for image ${n}`, onclick: advise })),
    out);
}

/** The job once it has ended (followed by jobs.js). @param {string} id @returns {Promise<any>} */
function waitFor(id) {
  return new Promise((resolve) => {
    const check = () => {
      const job = jobOf(id);
      if (job && (FINISHED.has(job.state) || job.state === "deleted")) {
        clearInterval(timer);
        resolve(job);
      }
    };
    const timer = setInterval(check, 200);
    check();
  });
}

/** The model and its licence beside the download, so commercial-use questions have an answer. @param {any} asset */
function licenceLine(asset) {
  const line = el("p", { class: "licence", text: "Model licence: …" });
  detailOf(asset.id).then((detail) => {
    const model = detail.record.model || {};
    const random = model.random_weights ? " (random weights, not a trained model)" : "";
    const terms = model.commercial_use ? ` · ${model.commercial_use.summary}` : "";
    line.textContent = `Model ${model.id || "unknown"}${random} · licence: ${model.licence || "not stated by the model"}${terms}`;
  }).catch(() => { line.textContent = "Model licence: unavailable"; });
  return line;
}

/** An output as a new photo to work from: uploaded like any photo, then picked. @param {any} job @param {any} asset */
async function useAsSource(job, asset) {
  try {
    const blob = await api.assetBlob(deliveredOf(job, asset) || asset);
    const file = new File([blob], `${short(job.id)}_image${asset.index + 1}.png`, { type: "image/png" });
    const upload = await uploadOne(file);
    if (upload) {
      showInfo(`Image ${asset.index + 1} of job ${short(job.id)} is the photo to work from now.`);
      emit("step", "photos");
    }
  } catch (err) {
    showError(err, "Use as source");
  }
}

/** Delete one output: hidden at once, deleted on the server unless undone in a few seconds. @param {any} job @param {any} asset */
function deleteOutput(job, asset) {
  hiddenAssets.add(asset.id);
  render();
  offerUndo(`Deleted image ${asset.index + 1} of job ${short(job.id)}.`, () => {
    hiddenAssets.delete(asset.id);
    render();
  }, async () => {
    try {
      await api.deleteAsset(asset.id);
      const known = jobOf(job.id);
      if (known) {
        const gone = new Set([asset.id, ...(known.assets || []).filter((/** @type {any} */ a) => a.parent_asset_id === asset.id).map((/** @type {any} */ a) => a.id)]);
        remember({ ...known, assets: known.assets.filter((/** @type {any} */ a) => !gone.has(a.id)) });
      }
    } catch (err) {
      showError(err, "Delete image");
    } finally {
      hiddenAssets.delete(asset.id);
      render();
    }
  });
}

/** The outputs to show: not being deleted, starred only when asked, sorted as asked. @param {any} job */
function shownOutputs(job) {
  let outputs = outputsOf(job).filter((a) => !hiddenAssets.has(a.id));
  if ($("#starred-only").checked) outputs = outputs.filter((a) => stars.has(a.id));
  if ($("#sort").value === "identity") {
    const score = (/** @type {any} */ a) => (a.scores && typeof a.scores.identity === "number" ? a.scores.identity : -Infinity);
    outputs = [...outputs].sort((a, b) => score(b) - score(a) || a.index - b.index);
  }
  return outputs;
}

/** @param {string} id */
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
    if (err.status === 404 && state.reviewJob === id) {
      emit("review", null); // a job from an old address that is gone: nothing to show
      return;
    }
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
  const preview = previewOf(id);
  $("#review-preview").hidden = FINISHED.has(job.state) || !preview;
  if (preview && !FINISHED.has(job.state)) $("#review-preview").src = preview;
  const outputs = shownOutputs(job);
  const all = outputsOf(job);
  $("#results-none").hidden = outputs.length > 0 || !all.length;
  const key = `${id}:${job.assets.map((/** @type {any} */ a) => a.id).join(",")}:${outputs.map((a) => `${a.id}${stars.has(a.id) ? "*" : ""}`).join(",")}`;
  if (key !== shownAssets) {
    shownAssets = key;
    $("#results").replaceChildren(...outputs.map((asset, i) => resultItem(job, asset, outputs, i)));
  }
  $("#download-zip").disabled = !all.length;
  $("#review-rerun").disabled = !FINISHED.has(job.state) || job.kind !== "generate";
  $("#change-run").disabled = job.state !== "succeeded" || job.kind !== "generate";
  $("#review-params").replaceChildren(definitionList(parameterList(job.request)));
  if (changeFor !== id) {
    changeFor = id;
    buildChangeValue(job);
  }
  const scope = $("#change-scope");
  const scopes = all.map((a) => String(a.index)).join(",");
  if (scope.dataset.for !== `${id}:${scopes}`) {
    const chosen = scope.value;
    scope.dataset.for = `${id}:${scopes}`;
    scope.replaceChildren(el("option", { value: "", text: "all images" }),
      ...all.map((a) => el("option", { value: String(a.index), text: `image ${a.index + 1} (seed ${a.seed})` })));
    scope.value = [...scope.options].some((o) => o.value === chosen) ? chosen : "";
  }
  renderSideBySide();
}

// -- download all -------------------------------------------------------------------------------

async function downloadZip() {
  const job = jobOf(state.reviewJob);
  if (!job) return;
  const button = $("#download-zip");
  button.disabled = true;
  try {
    const outputs = shownOutputs(job);
    const files = [];
    for (const asset of outputs) {
      const delivered = deliveredOf(job, asset);
      for (const [which, item] of [["", asset], ["_delivered", delivered]]) {
        if (!item) continue;
        const bytes = new Uint8Array(await (await api.assetBlob(item)).arrayBuffer());
        files.push({ name: `${short(job.id)}_image${String(asset.index + 1).padStart(2, "0")}_s${asset.seed}${which}.png`, data: bytes });
      }
      const detail = await detailOf(asset.id);
      files.push({ name: `${short(job.id)}_image${String(asset.index + 1).padStart(2, "0")}.json`,
        data: new TextEncoder().encode(JSON.stringify(detail, null, 2)) });
    }
    saveBlob(zipBlob(files), `${short(job.id)}_images.zip`);
  } catch (err) {
    showError(err, "Download all");
  } finally {
    button.disabled = false;
  }
}

// -- change one thing ---------------------------------------------------------------------------

/** @param {any} job */
function buildChangeValue(job) {
  const field = $("#change-field").value;
  const current = job ? job.request[field] : null;
  const holder = $("#change-value-field");
  const label = el("label", { for: "change-value", text: `New ${LABELS[field].toLowerCase()}` });
  let input;
  if (field === "prompt" || field === "negative_prompt") {
    input = el("textarea", { id: "change-value", rows: "2" });
  } else if (field === "scheduler") {
    input = el("select", { id: "change-value" }, (state.defaults.schedulers || ["default"]).map((/** @type {string} */ name) => el("option", { value: name, text: name })));
  } else {
    const limits = /** @type {Record<string, number[]>} */ ({ image_strength: [0, 1, 0.05], seed: [0, 4294967295, 1], guidance: [0, 30, 0.5], steps: [1, 150, 1] })[field];
    input = el("input", { id: "change-value", type: "number", min: limits[0], max: limits[1], step: limits[2] });
  }
  if (current != null) input.value = String(current);
  holder.replaceChildren(label, input);
}

/** @param {string} field */
function readChange(field) {
  const raw = $("#change-value").value;
  if (field === "prompt" || field === "negative_prompt") return raw.trim();
  if (field === "scheduler") return raw;
  if (raw.trim() === "") return null;
  return Number(raw);
}

/** @param {Event} event */
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
  const scope = $("#change-scope").value;
  const index = scope === "" ? null : Number(scope);
  $("#change-run").disabled = true;
  try {
    const next = track(await api.vary(base.id, { [field]: to }, index));
    comparison = { base: base.id, next: next.id, field, from, to, index };
    keep("comparison", comparison);
    renderSideBySide();
    $("#side-by-side").scrollIntoView({ block: "nearest", behavior: "smooth" });
  } catch (err) {
    showError(err, "Change one thing");
  } finally {
    $("#change-run").disabled = false;
  }
}

/** @param {any} job @param {string} heading @param {number | null} [only] */
function column(job, heading, only = null) {
  const outputs = job ? outputsOf(job).filter((a) => only === null || a.index === only) : [];
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
  const visible = comparison && [comparison.base, comparison.next].includes(/** @type {string} */ (state.reviewJob));
  section.hidden = !visible;
  if (!visible || !comparison) return;
  const { base, next, field, from, to } = comparison;
  const index = comparison.index ?? null;
  const label = LABELS[field];
  const baseJob = jobOf(base);
  const nextJob = jobOf(next);
  if (!nextJob) {
    api.job(next).then(remember).catch(() => { comparison = null; keep("comparison", null); renderSideBySide(); });
  }
  $("#sbs-summary").textContent =
    `Changed ${label.toLowerCase()}${index === null ? "" : ` for image ${index + 1}`}: ${valueText(from)} → ${valueText(to)}. Everything else is the same` +
    `${field === "seed" ? "" : `, seed ${baseJob ? baseJob.request.seed + (index || 0) : ""} included`}.`;
  const key = [baseJob, nextJob].map((j) => (j ? `${j.id}:${j.state}:${j.progress.step}:${(j.assets || []).length}` : "")).join("|");
  if (section.dataset.key === key) return;
  section.dataset.key = key;
  $("#sbs-grid").replaceChildren(
    column(baseJob, `Before · ${label.toLowerCase()} ${valueText(from)}`, index),
    column(nextJob, `After · ${label.toLowerCase()} ${valueText(to)}`),
  );
}

// -- wiring -------------------------------------------------------------------------------------

export function initReview() {
  on("review", (id) => {
    state.reviewJob = id;
    keep("job", id);
    writeUrl();
    render();
  });
  on("job", (job) => {
    if (job.id === state.reviewJob && job.state === "deleted") emit("review", null);
    else if (job.id === state.reviewJob) render();
    else if (comparison && [comparison.base, comparison.next].includes(job.id)) renderSideBySide();
  });
  on("preview", (id) => {
    if (id === state.reviewJob) render();
  });
  on("stars", () => render());
  on("hide-job", (id) => {
    if (id === state.reviewJob) $("#review-body").hidden = true;
  });
  on("unhide-job", (id) => {
    if (id === state.reviewJob) $("#review-body").hidden = false;
  });
  $("#sort").addEventListener("change", render);
  $("#starred-only").addEventListener("change", render);
  $("#download-zip").addEventListener("click", downloadZip);
  $("#change-field").addEventListener("change", () => buildChangeValue(jobOf(state.reviewJob)));
  $("#change-form").addEventListener("submit", onChange);
  $("#review-rerun").addEventListener("click", async () => {
    const job = jobOf(state.reviewJob);
    if (!job) return;
    try {
      const next = await submit(requestOf(job));
      emit("review", next.id);
      focusJob(next.id);
    } catch (err) {
      showError(err, "Re-run");
    }
  });
  $("#review-delete-job").addEventListener("click", () => {
    if (state.reviewJob) deleteJob(state.reviewJob);
  });
  $("#review-delete").addEventListener("click", () => {
    const job = jobOf(state.reviewJob);
    if (!job) return;
    deleteUpload(state.uploads.get(job.upload_id) || { id: job.upload_id, filename: "" });
  });
  on("deleted", () => {
    if (comparison && !(jobOf(comparison.base) && jobOf(comparison.next))) {
      comparison = null;
      keep("comparison", null);
    }
  });
}
