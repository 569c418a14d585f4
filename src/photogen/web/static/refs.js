// @ts-check
// Reference photos: a generation drawing on an identity set or on picked reference photos (and a head turn
// on models with an angle control); avatar-set runs of an identity set through scenarios, scored, with a
// grid; and the restoration of an old photo's scan with a damage mask painted or erased by hand.

import { api, request, saveBlob, showImage } from "./api.js";
import { FINISHED, jobOf, track } from "./jobs.js";
import { on, selectedUpload, state } from "./store.js";
import { $, el, number, short, showError, showInfo } from "./ui.js";
import { openCompare } from "./viewer.js";

// -- references for a generation ------------------------------------------------------------------

/** @type {any[]} */
let sets = [];

function modelCaps() {
  const name = $("#model").value;
  const model = state.models.find((m) => (name ? m.id === name : m.default));
  return model ? model.capabilities : null;
}

/** The reference fields of a generation request from the form. */
export function referenceFields() {
  /** @type {any} */
  const fields = {};
  const identity = $("#identity").value;
  if (identity) fields.identity_id = identity;
  const picked = [...document.querySelectorAll("#reference-pick input:checked")].map((i) => /** @type {HTMLInputElement} */ (i).value);
  if (!identity && picked.length) fields.reference_upload_ids = picked;
  const caps = modelCaps();
  const angle = Number($("#angle").value);
  if (caps && caps.max_angle > 0 && angle) fields.angle = angle;
  return fields;
}

/** Why the references cannot be sent as they are, or "". */
export function referenceProblem() {
  const caps = modelCaps();
  const picked = document.querySelectorAll("#reference-pick input:checked").length;
  const most = caps ? caps.max_references || 0 : 0;
  if (picked > most) return most ? `This model takes at most ${most} reference photos.` : "This model takes no reference photos: untick them.";
  if (caps && caps.max_angle > 0) {
    const angle = Number($("#angle").value);
    if (!Number.isInteger(angle) || angle % 5 || Math.abs(angle) > caps.max_angle) return `The head turn must be a multiple of 5 within ±${caps.max_angle}°.`;
  }
  return "";
}

function renderReferencePick() {
  const caps = modelCaps();
  const most = caps ? caps.max_references || 0 : 0;
  const chosen = new Set([...document.querySelectorAll("#reference-pick input:checked")].map((i) => /** @type {HTMLInputElement} */ (i).value));
  const others = [...state.uploads.values()].filter((u) => u.id !== state.selected).reverse();
  $("#reference-pick").replaceChildren(...others.map((upload) => {
    const img = el("img", { alt: "", draggable: "false" });
    showImage(img, api.previewPath(upload.id, 256)).catch(() => img.classList.add("broken"));
    return el("li", {}, el("label", { class: "identity-pick-item" },
      el("input", { type: "checkbox", value: upload.id, checked: chosen.has(upload.id) ? true : null,
        disabled: most === 0 && !chosen.has(upload.id) ? true : null, "aria-label": `Reference: ${upload.filename || upload.id}` }),
      img, el("span", { text: upload.filename || short(upload.id) })));
  }));
  $("#refs-help").textContent = !others.length ? "Upload more photos of the same person or product to pick them here."
    : most ? `This model takes up to ${most} reference photos beside the source.`
      : "This model takes no reference photos; an identity set still scores the outputs against its photos.";
  $("#angle-field").hidden = !(caps && caps.max_angle > 0);
  if (caps && caps.max_angle > 0) {
    $("#angle").min = String(-caps.max_angle);
    $("#angle").max = String(caps.max_angle);
  }
}

async function loadIdentityChoices() {
  try {
    sets = await api.identities();
  } catch {
    sets = [];
  }
  const select = $("#identity");
  const chosen = select.value;
  select.replaceChildren(el("option", { value: "", text: "None" }), ...sets.map((set) =>
    el("option", { value: set.id, text: `${set.name} (${set.usable} usable of ${set.references})` })));
  select.value = sets.some((s) => s.id === chosen) ? chosen : "";
}

// -- avatar sets ---------------------------------------------------------------------------------

/** The avatar-set form under an identity set's coverage. @param {any} set */
export async function avatarSection(set) {
  let recipes = [];
  try {
    recipes = await api.recipes();
  } catch {
    recipes = [];
  }
  const scenarios = recipes.filter((r) => r.name.startsWith("avatar-"));
  const list = scenarios.length ? scenarios : recipes;
  const out = el("div", { class: "avatar-out", "aria-live": "polite" });
  const images = el("input", { id: "avatar-images", type: "number", min: "1", max: "4", value: "1" });
  const steps = el("input", { id: "avatar-steps", type: "number", min: "1", max: "150", value: "4" });
  const run = async (/** @type {Event} */ event) => {
    event.preventDefault();
    const picked = [...form.querySelectorAll("input[name=scenario]:checked")].map((i) => /** @type {HTMLInputElement} */ (i).value);
    if (!picked.length) {
      showError(new Error("tick at least one scenario"), "Avatar set");
      return;
    }
    try {
      const made = await (await request("POST", "/v1/avatar-sets", { json: { identity_id: set.id, scenarios: picked,
        num_images: Number(images.value), steps: Number(steps.value) } })).json();
      out.dataset.avatar = made.id;
      await followAvatar(made.id, out);
    } catch (err) {
      showError(err, "Avatar set");
    }
  };
  const form = el("form", { class: "avatar-form", onsubmit: run },
    el("fieldset", {}, el("legend", { text: "Avatar set: run this set through scenarios" }),
      el("ul", { class: "identity-pick" }, list.map((r, i) => el("li", {}, el("label", { class: "check-line" },
        el("input", { type: "checkbox", name: "scenario", value: r.ref, checked: i === 0 ? true : null }), r.title)))),
      el("div", { class: "row fields" },
        el("div", { class: "field" }, el("label", { for: "avatar-images", text: "Images per scenario" }), images),
        el("div", { class: "field" }, el("label", { for: "avatar-steps", text: "Steps" }), steps)),
      el("button", { type: "submit", id: "avatar-run", text: "Run the avatar set" })),
    out);
  return form;
}

/** Read the avatar set until it has ended, showing its runs, scores and grid. @param {string} id @param {any} out */
async function followAvatar(id, out) {
  for (let delay = 300; ; delay = Math.min(delay * 1.5, 1500)) {
    const view = await (await request("GET", `/v1/avatar-sets/${encodeURIComponent(id)}`)).json();
    const marked = new Set(view.marked || []);
    out.dataset.state = view.state;
    out.replaceChildren(
      el("p", { class: "readout avatar-state", text: `Avatar set ${short(view.id)}: ${view.state}${marked.size ? ` · ${marked.size} below the identity threshold` : ""}` }),
      el("ul", { class: "avatar-runs" }, view.runs.map((/** @type {any} */ run) => el("li", { class: "avatar-run", dataset: { job: run.job_id } },
        el("p", {}, el("strong", { text: run.scenario }), ` · ${run.state}${run.attempt ? ` · retry ${run.attempt}` : ""}`),
        el("ul", { class: "history-thumbs" }, run.outputs.map((/** @type {any} */ asset) => {
          const img = el("img", { alt: `${run.scenario}, seed ${asset.seed}`, class: marked.has(asset.id) ? "marked" : null });
          showImage(img, asset.url).catch(() => img.classList.add("broken"));
          const set = asset.scores && asset.scores.identity_set;
          const score = set && typeof set.best === "number" ? `identity ${number(set.best)} vs the set`
            : asset.scores && typeof asset.scores.identity === "number" ? `identity ${number(asset.scores.identity)}` : "no face";
          return el("li", {}, img, el("span", { class: "caption", text: `${score}${marked.has(asset.id) ? " · marked" : ""}` }));
        }))))),
      view.grid ? (() => {
        const img = el("img", { class: "avatar-grid", alt: "The avatar set's grid" });
        showImage(img, view.grid.url).catch(() => img.classList.add("broken"));
        return img;
      })() : null,
    );
    if (FINISHED.has(view.state) || view.state === "partial") return view;
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

// -- restoration ---------------------------------------------------------------------------------

let erasing = false;
let painted = false;
/** @type {any} */
let restored = null; // {job, output}

function showRestoreUpload() {
  const upload = selectedUpload();
  $("#restore-empty").hidden = Boolean(upload);
  $("#restore-body").hidden = !upload;
  if (!upload) return;
  const canvas = /** @type {HTMLCanvasElement} */ ($("#mask-canvas"));
  canvas.width = upload.width;
  canvas.height = upload.height;
  painted = false;
  $("#mask-state").textContent = "No mask painted: the damage will be found for you.";
  showImage($("#restore-image"), api.previewPath(upload.id, 1024)).catch((err) => showError(err, "Preview"));
}

function initMask() {
  const canvas = /** @type {HTMLCanvasElement} */ ($("#mask-canvas"));
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
  let drawing = false;
  const point = (/** @type {PointerEvent} */ event) => {
    const rect = canvas.getBoundingClientRect();
    return [(event.clientX - rect.left) * (canvas.width / rect.width), (event.clientY - rect.top) * (canvas.height / rect.height)];
  };
  const dab = (/** @type {PointerEvent} */ event) => {
    const [x, y] = point(event);
    const radius = Number($("#mask-size").value) * (canvas.width / Math.max(1, canvas.getBoundingClientRect().width)) / 2;
    ctx.globalCompositeOperation = erasing ? "destination-out" : "source-over";
    ctx.fillStyle = "#ff2d55";
    ctx.beginPath();
    ctx.arc(x, y, radius, 0, Math.PI * 2);
    ctx.fill();
    painted = true;
    $("#mask-state").textContent = "Your mask: only what you painted is repaired.";
  };
  canvas.addEventListener("pointerdown", (event) => {
    drawing = true;
    canvas.setPointerCapture(event.pointerId);
    dab(event);
  });
  canvas.addEventListener("pointermove", (event) => drawing && dab(event));
  canvas.addEventListener("pointerup", () => (drawing = false));
  const mode = (/** @type {boolean} */ erase) => {
    erasing = erase;
    $("#mask-paint").setAttribute("aria-pressed", String(!erase));
    $("#mask-erase").setAttribute("aria-pressed", String(erase));
  };
  $("#mask-paint").addEventListener("click", () => mode(false));
  $("#mask-erase").addEventListener("click", () => mode(true));
  $("#mask-clear").addEventListener("click", () => {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    painted = false;
    $("#mask-state").textContent = "No mask painted: the damage will be found for you.";
  });
}

/** The painted mask as the API takes it: base64 PNG at the scan's size, white where damaged. */
function maskPng() {
  const canvas = /** @type {HTMLCanvasElement} */ ($("#mask-canvas"));
  const out = document.createElement("canvas");
  out.width = canvas.width;
  out.height = canvas.height;
  const ctx = /** @type {CanvasRenderingContext2D} */ (out.getContext("2d"));
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, out.width, out.height);
  const painted = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d")).getImageData(0, 0, canvas.width, canvas.height);
  const mask = ctx.getImageData(0, 0, out.width, out.height);
  for (let i = 0; i < painted.data.length; i += 4) {
    if (painted.data[i + 3] > 0) mask.data[i] = mask.data[i + 1] = mask.data[i + 2] = 255;
  }
  ctx.putImageData(mask, 0, 0);
  return out.toDataURL("image/png").split(",", 2)[1];
}

async function runRestore() {
  const upload = selectedUpload();
  if (!upload) return;
  $("#restore-run").disabled = true;
  $("#restore-status").textContent = "Restoring…";
  try {
    /** @type {any} */
    const body = { upload_id: upload.id, colourise: $("#restore-colourise").checked };
    if (painted) body.mask = maskPng();
    const job = track(await (await request("POST", "/v1/restorations", { json: body })).json());
    for (;;) {
      const now = jobOf(job.id);
      if (now && (FINISHED.has(now.state) || now.state === "deleted")) break;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    const done = await api.job(job.id);
    if (done.state !== "succeeded") throw new Error(done.error ? done.error.message : `the restoration ${done.state}`);
    const output = done.assets.find((/** @type {any} */ a) => a.kind === "output");
    restored = { job: done, output, upload };
    $("#restore-status").textContent = `Restored: ${output.width}×${output.height} px, job ${short(done.id)}.`;
    $("#restore-steps").replaceChildren(...done.assets.map((/** @type {any} */ asset) => {
      const img = el("img", { alt: asset.kind.replace(/_/g, " ") });
      showImage(img, asset.url).catch(() => img.classList.add("broken"));
      return el("li", { dataset: { kind: asset.kind } }, img, el("span", { class: "caption", text: asset.kind.replace(/_/g, " ") }));
    }));
    $("#restore-compare").disabled = false;
    $("#restore-download").disabled = false;
    showInfo(`Restored ${upload.filename || "the photo"}.`);
  } catch (err) {
    $("#restore-status").textContent = "The restoration did not finish.";
    showError(err, "Restore");
  } finally {
    $("#restore-run").disabled = false;
  }
}

export function initRefs() {
  on("uploads", renderReferencePick);
  on("select", () => {
    renderReferencePick();
    showRestoreUpload();
  });
  on("view", (/** @type {string} */ name) => {
    if (name === "create") loadIdentityChoices();
    if (name === "restore") showRestoreUpload();
  });
  $("#model").addEventListener("change", renderReferencePick);
  $("#refs-box").addEventListener("toggle", () => {
    if ($("#refs-box").open) loadIdentityChoices();
  });
  initMask();
  $("#restore-run").addEventListener("click", runRestore);
  $("#restore-compare").addEventListener("click", () => {
    if (!restored) return;
    const before = { url: api.previewPath(restored.upload.id, 1024), width: restored.upload.width, height: restored.upload.height };
    openCompare(before, restored.output, `Restoration of ${restored.upload.filename || "the photo"}`);
  });
  $("#restore-download").addEventListener("click", async () => {
    if (!restored) return;
    const blob = await api.assetBlob(restored.output);
    saveBlob(blob, `${short(restored.job.id)}_restored.png`);
  });
}
