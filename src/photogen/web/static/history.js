// @ts-check
// History: past jobs with their parameters and source photo, searchable by prompt and filtered by
// state; open in review, re-run (not when the job's model is gone), and the lineage of an output
// (upload -> crop -> job -> outputs -> upscales).

import { api, showImage } from "./api.js";
import { FINISHED, requestOf, submit } from "./jobs.js";
import { openJob } from "./open.js";
import { emit, on, state } from "./store.js";
import { $, definitionList, el, parameterList, short, showError, showInfo, when } from "./ui.js";

/** @type {Record<string, string>} */
const STATE_WORDS = { queued: "Queued", running: "Running", succeeded: "Done", failed: "Failed", canceled: "Canceled" };
let visible = false;
/** @type {any} */
let pendingLoad = null;
/** @type {any[]} the jobs as last read */
let listed = [];

/** Whether the model a job names is still in the server's catalogue (unknown catalogue: assume so).
 * @param {any} job */
function modelExists(job) {
  const name = job.request && job.request.model;
  return !name || !state.models.length || state.models.some((m) => m.id === name);
}

/** Reload the list soon, once for a burst of finished jobs. */
function reloadSoon() {
  clearTimeout(pendingLoad);
  pendingLoad = setTimeout(loadHistory, 200);
}

/** @param {string} path @param {string} alt */
function thumb(path, alt) {
  const img = el("img", { alt, draggable: "false", loading: "lazy" });
  showImage(img, path).catch(() => img.classList.add("broken"));
  return img;
}

/** @param {any} job */
function item(job) {
  const outputs = (job.assets || []).filter((/** @type {any} */ a) => a.kind === "output").sort((/** @type {any} */ a, /** @type {any} */ b) => a.index - b.index);
  const upload = state.uploads.get(job.upload_id);
  const model = modelExists(job);
  return el(
    "li",
    { class: "history-item", dataset: { job: job.id, state: job.state } },
    el("div", { class: "history-head" },
      el("img", { class: "history-source", alt: `Source: ${upload ? upload.filename : "photo"}`, draggable: "false",
        src: null, dataset: { upload: job.upload_id } }),
      el("strong", { text: `Job ${short(job.id)}` }),
      el("span", { class: `pill state-${job.state}`, text: STATE_WORDS[job.state] || job.state }),
      el("time", { datetime: job.created_at, text: when(job.created_at) })),
    definitionList(parameterList(job.request), "params compact"),
    model ? null : el("p", { class: "help model-gone", text: `Re-run is off: the model ${job.request.model} is no longer on this server.` }),
    job.error ? el("p", { class: "error-text", text: `Failed: ${job.error.message}` }) : null,
    outputs.length
      ? el("ul", { class: "history-thumbs", "aria-label": `Outputs of job ${short(job.id)}` }, outputs.map((asset) =>
        el("li", {}, el("button", { type: "button", class: "history-thumb", "aria-label": `Lineage of image ${asset.index + 1} (seed ${asset.seed})`,
          onclick: () => showLineage(asset.id) }, thumb(asset.url, `Image ${asset.index + 1}, seed ${asset.seed}`)))))
      : null,
    el("div", { class: "row" },
      el("button", { type: "button", text: "Open in review", disabled: job.state !== "succeeded",
        onclick: () => openJob(job) }),
      el("button", { type: "button", text: "Re-run", "aria-label": `Re-run job ${short(job.id)}`,
        disabled: !FINISHED.has(job.state) || !model || job.kind !== "generate",
        title: model ? undefined : `The model ${job.request.model} is no longer on this server`,
        onclick: () => rerun(job) }),
      outputs.length
        ? el("button", { type: "button", class: "quiet", text: "Lineage", onclick: () => showLineage(outputs[0].id) })
        : null),
  );
}

/** @param {any} job */
async function rerun(job) {
  try {
    const next = await submit(requestOf(job));
    showInfo(`Re-running job ${short(job.id)} as job ${short(next.id)} (seed ${next.request.seed}).`);
    emit("view", "create");
    emit("review", next.id);
  } catch (err) {
    showError(err, "Re-run");
  }
}

export async function loadHistory() {
  try {
    listed = await api.jobs(200);
    renderHistory();
  } catch (err) {
    showError(err, "History");
  }
}

/** The jobs that match the search and the state filter. */
function renderHistory() {
  const words = $("#history-search").value.trim().toLowerCase().split(/\s+/).filter(Boolean);
  const wanted = $("#history-state").value;
  const jobs = listed.filter((job) => (!wanted || job.state === wanted)
    && words.every((w) => `${job.request.prompt || ""} ${job.request.negative_prompt || ""}`.toLowerCase().includes(w)));
  const items = jobs.map(item);
  $("#history").replaceChildren(...items);
  for (const img of document.querySelectorAll("#history .history-source")) {
    const id = /** @type {HTMLElement} */ (img).dataset.upload;
    if (id && state.uploads.has(id)) showImage(/** @type {HTMLImageElement} */ (img), api.previewPath(id, 256)).catch(() => img.classList.add("broken"));
    else img.classList.add("broken");
  }
  const all = listed.length;
  $("#history-count").textContent = !all ? "No jobs yet."
    : jobs.length === all ? `${all} job${all === 1 ? "" : "s"}, newest first`
      : `${jobs.length} of ${all} jobs match, newest first`;
}

// -- lineage ------------------------------------------------------------------------------------

function link(title, ...body) {
  return el("li", { class: "link" }, el("h3", { text: title }), ...body);
}

/** @param {string} assetId */
export async function showLineage(assetId) {
  let lineage;
  try {
    lineage = await api.lineage(assetId);
  } catch (err) {
    showError(err, "Lineage");
    return;
  }
  const { upload, crop, job, outputs } = lineage;
  const chain = [
    link("Upload",
      thumb(api.previewPath(upload.id, 256), `Upload ${upload.filename}`),
      definitionList([
        ["File", upload.filename || "(no name)"],
        ["Size", `${upload.width}×${upload.height} ${upload.format}, ${Math.round(upload.size_bytes / 1024)} KB`],
        ["SHA-256", `${upload.sha256.slice(0, 16)}…`],
        ["Checked", upload.preflight ? `${upload.preflight.use}: ${upload.preflight.level}` : "not checked"],
        ["Uploaded", when(upload.created_at)],
      ], "params compact")),
  ];
  if (crop) {
    const box = job && job.crop ? job.crop.box.join(", ") : "";
    chain.push(link("Crop",
      thumb(crop.url, "The cropped source the model saw"),
      definitionList([["Box", box], ["Preset", (job && job.request.crop_preset) || "custom"], ["Size", `${crop.width}×${crop.height}`]], "params compact")));
  }
  if (job) {
    chain.push(link("Job", definitionList([["Job", short(job.id)], ["State", job.state], ["When", when(job.created_at)],
      ...parameterList(job.request)], "params compact")));
  }
  chain.push(link("Outputs", el("ul", { class: "history-thumbs" }, outputs.map((asset) =>
    el("li", { "aria-current": asset.id === assetId ? "true" : null, class: asset.id === assetId ? "current" : null },
      thumb(asset.url, `Image ${asset.index + 1}, seed ${asset.seed}${asset.id === assetId ? " (this one)" : ""}`),
      el("span", { class: "caption", text: `seed ${asset.seed}` }))))));
  const upscales = lineage.upscales || [];
  if (upscales.length) {
    chain.push(link("Upscales", el("ul", { class: "history-thumbs" }, upscales.map((/** @type {any} */ asset) =>
      el("li", {}, thumb(asset.url, `Enlarged image ${asset.index + 1}, ${asset.width}×${asset.height}`),
        el("span", { class: "caption", text: `${asset.width}×${asset.height}` }))))));
  }
  $("#lineage-empty").hidden = true;
  const list = $("#lineage-chain");
  list.hidden = false;
  list.dataset.asset = assetId;
  list.replaceChildren(...chain);
  if (window.matchMedia("(max-width: 60rem)").matches) $("#lineage").scrollIntoView({ block: "start" });
}

export function initHistory() {
  $("#history-refresh").addEventListener("click", loadHistory);
  $("#history-search").addEventListener("input", renderHistory);
  $("#history-state").addEventListener("change", renderHistory);
  on("view", (name) => {
    visible = name === "history";
    if (visible) loadHistory();
  });
  on("job", (job) => {
    if (visible && FINISHED.has(job.state)) reloadSoon();
  });
  on("deleted", () => {
    $("#lineage-chain").hidden = true;
    $("#lineage-empty").hidden = false;
    if (visible) reloadSoon();
  });
}
