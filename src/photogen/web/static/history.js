// History: past jobs with their parameters, re-run, and the lineage of an output
// (upload -> crop -> job -> outputs).

import { api, showImage } from "./api.js";
import { FINISHED, requestOf, submit } from "./jobs.js";
import { emit, on } from "./store.js";
import { $, definitionList, el, parameterList, short, showError, showInfo, when } from "./ui.js";

const STATE_WORDS = { queued: "Queued", running: "Running", succeeded: "Done", failed: "Failed", canceled: "Canceled" };
let visible = false;
let pendingLoad = null;

/** Reload the list soon, once for a burst of finished jobs. */
function reloadSoon() {
  clearTimeout(pendingLoad);
  pendingLoad = setTimeout(loadHistory, 200);
}

function thumb(path, alt) {
  const img = el("img", { alt, draggable: "false", loading: "lazy" });
  showImage(img, path).catch(() => img.classList.add("broken"));
  return img;
}

function item(job) {
  const outputs = (job.assets || []).filter((a) => a.kind === "output").sort((a, b) => a.index - b.index);
  return el(
    "li",
    { class: "history-item", dataset: { job: job.id, state: job.state } },
    el("div", { class: "history-head" },
      el("strong", { text: `Job ${short(job.id)}` }),
      el("span", { class: `pill state-${job.state}`, text: STATE_WORDS[job.state] || job.state }),
      el("time", { datetime: job.created_at, text: when(job.created_at) })),
    definitionList(parameterList(job.request), "params compact"),
    job.error ? el("p", { class: "error-text", text: `Failed: ${job.error.message}` }) : null,
    outputs.length
      ? el("ul", { class: "history-thumbs", "aria-label": `Outputs of job ${short(job.id)}` }, outputs.map((asset) =>
        el("li", {}, el("button", { type: "button", class: "history-thumb", "aria-label": `Lineage of image ${asset.index + 1} (seed ${asset.seed})`,
          onclick: () => showLineage(asset.id) }, thumb(asset.url, `Image ${asset.index + 1}, seed ${asset.seed}`)))))
      : null,
    el("div", { class: "row" },
      el("button", { type: "button", text: "Open in review", disabled: job.state !== "succeeded",
        onclick: () => { emit("view", "create"); emit("review", job.id); } }),
      el("button", { type: "button", text: "Re-run", "aria-label": `Re-run job ${short(job.id)}`, disabled: !FINISHED.has(job.state),
        onclick: () => rerun(job) }),
      outputs.length
        ? el("button", { type: "button", class: "quiet", text: "Lineage", onclick: () => showLineage(outputs[0].id) })
        : null),
  );
}

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
    const jobs = await api.jobs(100);
    $("#history").replaceChildren(...jobs.map(item));
    $("#history-count").textContent = jobs.length ? `${jobs.length} job${jobs.length === 1 ? "" : "s"}, newest first` : "No jobs yet.";
  } catch (err) {
    showError(err, "History");
  }
}

// -- lineage ------------------------------------------------------------------------------------

function link(title, ...body) {
  return el("li", { class: "link" }, el("h3", { text: title }), ...body);
}

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
  $("#lineage-empty").hidden = true;
  const list = $("#lineage-chain");
  list.hidden = false;
  list.dataset.asset = assetId;
  list.replaceChildren(...chain);
  if (window.matchMedia("(max-width: 60rem)").matches) $("#lineage").scrollIntoView({ block: "start" });
}

export function initHistory() {
  $("#history-refresh").addEventListener("click", loadHistory);
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
