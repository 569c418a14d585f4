// @ts-check
// Step 2: frame the photo for its use. A preset's suggested box (placed on the face or subject by
// GET /v1/uploads/{id}/crop) is pre-placed on the upright preview; it moves and resizes by pointer
// (ratio locked for presets, free for a custom crop) or by keys. The crop is kept per photo and
// sent with each job as crop_preset + crop_box; the original upload is never changed.

import { api, showImage } from "./api.js";
import { emit, keep, kept, on, selectedUpload, state } from "./store.js";
import { $, el, number, presetLabel, showError } from "./ui.js";

/** @type {Map<string, any>} upload id -> {preset, ratio, box, suggested, target, anchor, source} */
const crops = new Map();
const ANCHORS = { face: "placed on the face", faces: "placed on the faces", subject: "placed on the subject", centre: "centred" };
let token = 0;
let drag = null;

const clamp = (value, low, high) => Math.min(Math.max(value, low), high);
const storageKey = (id) => `photogen.crop.${id}`;

/** @param {string} text @returns {number[] | null} */
export function parseRatio(text) {
  const match = /^\s*(\d+(?:\.\d+)?)\s*[:x/]\s*(\d+(?:\.\d+)?)\s*$/.exec(text || "");
  if (!match) return null;
  const ratio = [Number(match[1]), Number(match[2])];
  return ratio[0] > 0 && ratio[1] > 0 ? ratio : null;
}

/** The crop fields of a generation request for a photo, or null while its crop is not ready. */
/** @param {string} uploadId @returns {any} */
export function cropFields(uploadId) {
  const crop = crops.get(uploadId);
  if (!crop || !crop.box) return null;
  /** @type {any} */
  const fields = { crop_box: crop.box.map(Math.round) };
  if (crop.preset !== "custom") fields.crop_preset = crop.preset;
  else if (crop.ratio) fields.crop_preset = `custom:${number(crop.ratio[0])}:${number(crop.ratio[1])}`;
  return fields;
}

function save(uploadId) {
  const crop = crops.get(uploadId);
  try {
    localStorage.setItem(storageKey(uploadId), JSON.stringify(crop));
  } catch {
    // storage full or disabled: the crop still lives for this page
  }
  emit("crop", uploadId);
}

function restore(upload) {
  try {
    const saved = JSON.parse(localStorage.getItem(storageKey(upload.id)) || "null");
    if (saved && Array.isArray(saved.box) && saved.box.length === 4) return saved;
  } catch {
    // unreadable: start again from the suggestion
  }
  return null;
}

// -- geometry (all in upright source pixels) ----------------------------------------------------

function moveBox([l, t, r, b], dx, dy, [sw, sh]) {
  const nl = clamp(l + dx, 0, sw - (r - l));
  const nt = clamp(t + dy, 0, sh - (b - t));
  return [nl, nt, nl + (r - l), nt + (b - t)];
}

function resizeBox(start, handle, dx, dy, ratio, [sw, sh]) {
  let [l, t, r, b] = start;
  const min = Math.max(8, Math.round(Math.min(sw, sh) * 0.04));
  const west = handle.includes("w"), east = handle.includes("e");
  const north = handle.includes("n"), south = handle.includes("s");
  if (!ratio) {
    if (west) l = clamp(l + dx, 0, r - min);
    if (east) r = clamp(r + dx, l + min, sw);
    if (north) t = clamp(t + dy, 0, b - min);
    if (south) b = clamp(b + dy, t + min, sh);
    return [l, t, r, b];
  }
  // Locked ratio: the corner opposite the handle stays put; the size follows the drag's diagonal.
  const k = ratio[0] / ratio[1];
  const sx = west ? -1 : 1, sy = north ? -1 : 1;
  const ax = west ? r : l, ay = north ? b : t;
  let w = ((r - l + sx * dx) + (b - t + sy * dy) * k) / 2;
  const most = Math.min(sx > 0 ? sw - ax : ax, (sy > 0 ? sh - ay : ay) * k);
  w = clamp(w, Math.min(Math.max(min, min * k), most), most);
  const h = w / k;
  return [sx > 0 ? ax : ax - w, sy > 0 ? ay : ay - h, sx > 0 ? ax + w : ax, sy > 0 ? ay + h : ay];
}

function scaleBox([l, t, r, b], factor, ratio, [sw, sh]) {
  const cx = (l + r) / 2, cy = (t + b) / 2;
  let w = (r - l) * factor;
  let h = ratio ? w * ratio[1] / ratio[0] : (b - t) * factor;
  const fit = Math.min(1, sw / w, sh / h);
  w *= fit;
  h *= fit;
  const min = Math.max(8, Math.min(sw, sh) * 0.04);
  if (w < min || h < min) return [l, t, r, b];
  return moveBox([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 0, 0, [sw, sh]).map((v, i) =>
    i % 2 ? clamp(v, 0, sh) : clamp(v, 0, sw));
}

const rounded = (box) => box.map(Math.round);

// -- drawing ------------------------------------------------------------------------------------

function draw() {
  const upload = selectedUpload();
  const crop = upload && crops.get(upload.id);
  const boxEl = $("#crop-box");
  boxEl.hidden = !crop || !crop.box;
  $("#crop-shade").hidden = boxEl.hidden;
  if (!crop || !crop.box) return;
  const [sw, sh] = crop.source;
  const [l, t, r, b] = crop.box;
  Object.assign(boxEl.style, {
    left: `${(l / sw) * 100}%`, top: `${(t / sh) * 100}%`,
    width: `${((r - l) / sw) * 100}%`, height: `${((b - t) / sh) * 100}%`,
  });
  boxEl.classList.toggle("locked", Boolean(crop.ratio));
  // the photo outside the box, darkened: above, below, left and right of it
  const pct = (v, total) => `${(v / total) * 100}%`;
  const strips = [
    { left: "0", top: "0", width: "100%", height: pct(t, sh) },
    { left: "0", top: pct(b, sh), width: "100%", height: pct(sh - b, sh) },
    { left: "0", top: pct(t, sh), width: pct(l, sw), height: pct(b - t, sh) },
    { left: pct(r, sw), top: pct(t, sh), width: pct(sw - r, sw), height: pct(b - t, sh) },
  ];
  $("#crop-shade").querySelectorAll("span").forEach((span, i) => Object.assign(span.style, strips[i]));
  readout(crop);
}

function readout(crop) {
  const [l, t, r, b] = rounded(crop.box);
  const [w, h] = [r - l, b - t];
  const parts = [`Box ${l}, ${t} → ${r}, ${b}`, `${w}×${h} px of ${crop.source[0]}×${crop.source[1]}`];
  parts.push(crop.ratio ? `ratio ${number(crop.ratio[0])}:${number(crop.ratio[1])} locked` : "free ratio");
  if (crop.target) {
    const upscale = Math.max(crop.target[0] / w, crop.target[1] / h);
    parts.push(`delivered at ${crop.target[0]}×${crop.target[1]}${upscale > 1.05 ? ` (enlarged ×${number(upscale, 1)})` : ""}`);
  }
  const moved = crop.suggested && crop.box.some((v, i) => Math.abs(v - crop.suggested[i]) > 1);
  parts.push(moved ? "moved by you" : `suggested, ${ANCHORS[crop.anchor] || "centred"}`);
  const text = parts.join(" · ");
  $("#crop-readout").textContent = text;
  $("#crop-box").setAttribute("aria-valuetext", text);
}

function drawFaces(upload) {
  const layer = $("#crop-faces");
  layer.replaceChildren();
  const report = upload.preflight;
  if (!report || !report.faces) return;
  const analysed = (report.source && report.source.analysed_size) || [upload.width, upload.height];
  for (const face of report.faces) {
    const [x, y, w, h] = face.box;
    const box = el("span", { class: "face" });
    // Through the CSSOM: a style attribute is inline style, which the server's CSP refuses.
    Object.assign(box.style, { left: `${(x / analysed[0]) * 100}%`, top: `${(y / analysed[1]) * 100}%`,
                               width: `${(w / analysed[0]) * 100}%`, height: `${(h / analysed[1]) * 100}%` });
    layer.append(box);
  }
}

/** The size a photo's crop is delivered at (its preset's), or null. @param {string | null} uploadId */
export function deliverySize(uploadId) {
  const crop = uploadId ? crops.get(uploadId) : null;
  const preset = crop && state.presets.find((p) => p.name === crop.preset);
  return preset && preset.size ? { name: crop.preset, size: preset.size } : null;
}

/** @param {any} crop */
function presetHelp(crop) {
  const preset = state.presets.find((p) => p.name === crop.preset);
  $("#crop-for").textContent = preset
    ? `For ${presetLabel(preset.name, preset.ratio)}: ${preset.description}${preset.size ? ` · ${preset.size[0]}×${preset.size[1]} px` : ""}. Ratio locked; drag the box or a corner.`
    : "Custom: type a ratio to lock it, or leave it empty and drag the box and its edges freely.";
  $("#ratio-field").hidden = crop.preset !== "custom";
}

/** Frame a photo as a job was framed (its preset and box), so the crop shown is the job's.
 * @param {any} job */
export function adoptJobCrop(job) {
  const upload = state.uploads.get(job.upload_id);
  const request = job.request || {};
  const box = request.crop_box || (job.crop && job.crop.box);
  if (!upload || !box) return;
  const spec = request.crop_preset || "custom";
  const custom = spec.startsWith("custom");
  const preset = custom ? null : state.presets.find((p) => p.name === spec);
  const ratio = custom ? parseRatio(spec.slice(7)) : preset ? preset.ratio : null;
  const previous = crops.get(upload.id);
  crops.set(upload.id, {
    preset: custom ? "custom" : spec, ratio, box: [...box], suggested: previous ? previous.suggested : [...box],
    target: preset ? preset.size : null, anchor: previous ? previous.anchor : "centre", source: [upload.width, upload.height],
  });
  if (state.selected === upload.id) {
    $("#preset").value = custom ? "custom" : spec;
    $("#ratio").value = custom && ratio ? `${number(ratio[0])}:${number(ratio[1])}` : "";
    presetHelp(crops.get(upload.id));
    draw();
  }
  save(upload.id);
}

// -- choosing a preset --------------------------------------------------------------------------

async function applyPreset(upload, name) {
  const mine = ++token;
  const previous = crops.get(upload.id);
  const source = [upload.width, upload.height];
  const crop = { preset: name, ratio: null, box: null, suggested: null, target: null, anchor: "centre", source };
  let spec = name;
  if (name === "custom") {
    crop.ratio = parseRatio($("#ratio").value);
    if (!crop.ratio) {
      crop.box = previous && previous.box ? previous.box : [0, 0, source[0], source[1]];
      crop.suggested = [0, 0, source[0], source[1]];
    } else {
      spec = `custom:${number(crop.ratio[0])}:${number(crop.ratio[1])}`;
    }
  } else {
    const preset = state.presets.find((p) => p.name === name);
    crop.ratio = preset ? preset.ratio : null;
  }
  crops.set(upload.id, crop);
  presetHelp(crop);
  draw();
  if (!crop.box) {
    emit("crop", upload.id);
    try {
      const suggestion = await api.crop(upload.id, spec);
      if (mine !== token || crops.get(upload.id) !== crop) return;
      crop.box = suggestion.box;
      crop.suggested = suggestion.box;
      crop.anchor = suggestion.anchor;
      crop.source = suggestion.source_size;
      crop.target = name === "custom" ? null : suggestion.target_size;
    } catch (err) {
      showError(err, "Crop suggestion");
      crop.box = [0, 0, source[0], source[1]];
    }
  }
  draw();
  save(upload.id);
}

/** Switch the selected photo to a preset (a recipe's), unless it is framed for it already. */
export function usePreset(name) {
  const upload = selectedUpload();
  const crop = upload && crops.get(upload.id);
  if (!upload || !state.presets.some((p) => p.name === name) || (crop && crop.preset === name)) return;
  $("#preset").value = name;
  applyPreset(upload, name);
}

/** @param {any} upload */
function defaultPreset(upload) {
  const use = upload.preflight && upload.preflight.use;
  if (state.presets.some((p) => p.name === use)) return use;
  return "custom";
}

async function showUpload() {
  const upload = selectedUpload();
  $("#crop-empty").hidden = Boolean(upload);
  $("#crop-body").hidden = !upload;
  if (!upload) return;
  const img = $("#crop-image");
  $("#crop-stage").style.setProperty("--ratio", String(upload.width / upload.height));
  img.alt = `${upload.filename || "The photo"}, to crop`;
  img.removeAttribute("src");
  delete img.dataset.loaded;
  showImage(img, api.previewPath(upload.id, 1024)).catch((err) => showError(err, "Preview"));
  drawFaces(upload);
  let crop = crops.get(upload.id) || restore(upload);
  if (crop) {
    crops.set(upload.id, crop);
    $("#preset").value = crop.preset;
    $("#ratio").value = crop.preset === "custom" && crop.ratio ? `${number(crop.ratio[0])}:${number(crop.ratio[1])}` : "";
    presetHelp(crop);
    draw();
    emit("crop", upload.id);
    return;
  }
  const name = defaultPreset(upload);
  $("#preset").value = name;
  $("#ratio").value = "";
  await applyPreset(upload, name);
}

// -- pointer and keys ---------------------------------------------------------------------------

function onPointerDown(event) {
  const upload = selectedUpload();
  const crop = upload && crops.get(upload.id);
  if (!crop || !crop.box || event.button > 0) return;
  event.preventDefault();
  const boxEl = $("#crop-box");
  boxEl.focus({ preventScroll: true });
  boxEl.setPointerCapture(event.pointerId);
  const image = $("#crop-image").getBoundingClientRect();
  drag = {
    id: upload.id, handle: event.target.dataset.handle || "move", start: [...crop.box],
    x: event.clientX, y: event.clientY, scale: crop.source[0] / Math.max(1, image.width),
  };
  boxEl.classList.add("dragging");
}

function onPointerMove(event) {
  if (!drag) return;
  const crop = crops.get(drag.id);
  const dx = (event.clientX - drag.x) * drag.scale;
  const dy = (event.clientY - drag.y) * drag.scale;
  crop.box = drag.handle === "move"
    ? moveBox(drag.start, dx, dy, crop.source)
    : resizeBox(drag.start, drag.handle, dx, dy, crop.ratio, crop.source);
  draw();
}

function onPointerUp() {
  if (!drag) return;
  const crop = crops.get(drag.id);
  crop.box = rounded(crop.box);
  $("#crop-box").classList.remove("dragging");
  save(drag.id);
  draw();
  drag = null;
}

function onKey(event) {
  const upload = selectedUpload();
  const crop = upload && crops.get(upload.id);
  if (!crop || !crop.box) return;
  const step = Math.max(1, Math.round(Math.min(...crop.source) * (event.shiftKey ? 0.1 : 0.01)));
  const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
  if (moves[event.key]) crop.box = moveBox(crop.box, ...moves[event.key], crop.source);
  else if (event.key === "+" || event.key === "=") crop.box = scaleBox(crop.box, 1.05, crop.ratio, crop.source);
  else if (event.key === "-" || event.key === "_") crop.box = scaleBox(crop.box, 1 / 1.05, crop.ratio, crop.source);
  else return;
  event.preventDefault();
  crop.box = rounded(crop.box);
  draw();
  save(upload.id);
}

export function initCrop() {
  const select = $("#preset");
  for (const preset of state.presets) select.append(el("option", { value: preset.name, text: presetLabel(preset.name, preset.ratio) }));
  select.append(el("option", { value: "custom", text: "Something else: custom ratio or free" }));
  const remembered = kept("use", null);
  if (remembered && [...select.options].some((o) => o.value === remembered)) select.value = remembered;
  // one choice for the use and the crop: changing it frames the photo again, without uploading it again
  select.addEventListener("change", () => {
    keep("use", select.value);
    const upload = selectedUpload();
    if (upload) applyPreset(upload, select.value);
  });
  $("#ratio").addEventListener("change", () => {
    const upload = selectedUpload();
    const text = $("#ratio").value.trim();
    if (text && !parseRatio(text)) {
      showError(new Error(`"${text}" is not a ratio; write it as W:H, e.g. 3:2`), "Crop");
      return;
    }
    if (upload && select.value === "custom") applyPreset(upload, "custom");
  });
  $("#crop-reset").addEventListener("click", () => {
    const upload = selectedUpload();
    const crop = upload && crops.get(upload.id);
    if (!crop || !crop.suggested) return;
    crop.box = [...crop.suggested];
    draw();
    save(upload.id);
  });
  const boxEl = $("#crop-box");
  boxEl.addEventListener("pointerdown", onPointerDown);
  boxEl.addEventListener("pointermove", onPointerMove);
  boxEl.addEventListener("pointerup", onPointerUp);
  boxEl.addEventListener("pointercancel", onPointerUp);
  boxEl.addEventListener("keydown", onKey);
  on("select", showUpload);
  on("deleted", (id) => {
    crops.delete(id);
    localStorage.removeItem(storageKey(id));
  });
}
