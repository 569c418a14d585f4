// @ts-check
// The preflight report of the selected photo as a checklist: ok / warn / block, each finding with
// its measured value, the threshold it was held to and a one-line fix. Blocking findings must be
// acknowledged before Generate is enabled.

import { emit, keep, on, selectedUpload, state } from "./store.js";
import { $, el, number, presetLabel } from "./ui.js";

/** @type {Record<string, string>} */
const NAMES = {
  resolution: "Resolution",
  crop_fill: "Crop fill",
  sharpness: "Sharpness",
  exposure: "Exposure",
  contrast: "Contrast",
  clipped_shadows: "Clipped shadows",
  clipped_highlights: "Clipped highlights",
  noise: "Noise",
  compression: "JPEG quality",
  blockiness: "JPEG blocks",
  screenshot: "Screenshot or camera file",
  face_count: "Faces",
  face_sharpness: "Face sharpness",
  backlight: "Backlight",
  face_size: "Face size",
  face_resolution: "Face resolution",
  face_cutoff: "Head in frame",
  face_tilt: "Head tilt",
  face_turn: "Head turn",
  face_occlusion: "Face covered",
  face_exposure: "Light on the face",
  face_colour: "Colour of the light",
  skin_smoothing: "Skin smoothing",
  sharpening_halos: "Over-sharpening",
  saturation: "Saturation",
  effective_resolution: "Real resolution",
  animation: "Animation",
};
/** @type {Record<string, string>} */
const LEVEL_WORDS = { ok: "OK", warn: "Warning", block: "Blocking" };
/** @type {Record<string, string>} */
const LEVEL_MARKS = { ok: "✓", warn: "!", block: "✕" };
/** @type {Record<string, number>} */
const ORDER = { block: 0, warn: 1, ok: 2 };

export function checkName(name) {
  return NAMES[name] || name.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
}

const isShare = (unit) => typeof unit === "string" && unit.startsWith("share of");
const percent = (value) => `${number(value * 100, 1)}%`;

function valueText(check) {
  if (check.value == null) return "";
  if (isShare(check.unit)) return `${percent(check.value)} ${check.unit.replace(/^share of /, "of ")}`;
  return `${number(check.value)} ${check.unit || ""}`.trim();
}

function thresholdText(check) {
  const t = check.threshold;
  if (!t) return "";
  if (!isShare(check.unit)) return t.text || "";
  const parts = [];
  for (const level of ["warn", "block"]) {
    const bounds = [];
    if (t[`${level}_below`] != null) bounds.push(`below ${percent(t[`${level}_below`])}`);
    if (t[`${level}_above`] != null) bounds.push(`above ${percent(t[`${level}_above`])}`);
    if (bounds.length) parts.push(`${level} ${bounds.join(" or ")}`);
  }
  return parts.join("; ");
}

function checkItem(check) {
  const threshold = thresholdText(check);
  return el(
    "li",
    { class: `check level-${check.level}`, dataset: { check: check.name, level: check.level } },
    el("span", { class: "badge", role: "img", "aria-label": LEVEL_WORDS[check.level] || check.level, text: LEVEL_MARKS[check.level] || "?" }),
    el(
      "div",
      { class: "check-body" },
      el("p", { class: "check-head" }, el("strong", { text: checkName(check.name) }), " ",
        el("span", { class: "check-value", text: valueText(check) })),
      check.message ? el("p", { class: "check-message", text: check.message }) : null,
      threshold ? el("p", { class: "check-threshold", text: `Threshold: ${threshold}` }) : null,
      check.fix ? el("p", { class: "check-fix" }, el("strong", { text: "Fix: " }), check.fix) : null,
    ),
  );
}

function facts(upload, report) {
  const source = report.source || {};
  const meta = report.metadata || {};
  const parts = [`Checked for ${presetLabel(report.use || "general")}`];
  parts.push(`${upload.width}×${upload.height} ${upload.format}${source.megapixels ? `, ${source.megapixels} MP` : ""}`);
  const faces = (report.faces || []).length;
  parts.push(`${faces} face${faces === 1 ? "" : "s"} found`);
  parts.push(meta.camera ? `camera: ${meta.camera}` : "no camera data");
  if ((meta.removed_from_derivatives || []).length) parts.push(`removed from previews: ${meta.removed_from_derivatives.join(", ")}`);
  return parts.join(" · ");
}

function render() {
  const upload = selectedUpload();
  const box = $("#checklist");
  const report = upload && upload.preflight;
  box.hidden = !report;
  if (!report) return;

  const checks = [...(report.checks || [])].sort((a, b) => (ORDER[a.level] ?? 3) - (ORDER[b.level] ?? 3));
  const attention = checks.filter((c) => c.level !== "ok");
  const passed = checks.filter((c) => c.level === "ok");
  const blocking = attention.filter((c) => c.level === "block").length;
  const warnings = attention.length - blocking;

  const verdict = $("#checklist-verdict");
  verdict.className = `verdict level-${report.level}`;
  verdict.textContent =
    report.level === "block"
      ? `Blocked: ${blocking} blocking finding${blocking === 1 ? "" : "s"}, ${warnings} warning${warnings === 1 ? "" : "s"}. Fix the photo, or acknowledge below.`
      : report.level === "warn"
        ? `Usable with ${warnings} warning${warnings === 1 ? "" : "s"}; ${passed.length} checks passed.`
        : `Ready: all ${passed.length} checks passed.`;

  $("#checks-attention").replaceChildren(...attention.map(checkItem));
  $("#checks-ok").replaceChildren(...passed.map(checkItem));
  $("#checks-ok-summary").textContent = `${passed.length} check${passed.length === 1 ? "" : "s"} passed`;
  $("#checks-ok-box").hidden = passed.length === 0;
  const skipped = (report.skipped || []).map((s) => (typeof s === "string" ? s : s.name || JSON.stringify(s)));
  $("#checklist-facts").textContent = facts(upload, report) + (skipped.length ? ` · not checked: ${skipped.join(", ")}` : "");

  const ack = $("#ack");
  ack.hidden = report.level !== "block";
  $("#ack-block").checked = state.acknowledged.has(upload.id);
}

export function initChecklist() {
  $("#ack-block").addEventListener("change", (event) => {
    const upload = selectedUpload();
    if (!upload) return;
    if (event.target.checked) state.acknowledged.add(upload.id);
    else state.acknowledged.delete(upload.id);
    keep("acknowledged", [...state.acknowledged]);
    emit("ack", upload.id);
  });
  on("select", render);
  on("uploads", render);
}
