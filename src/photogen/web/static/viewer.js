// @ts-check
// The full-size viewer (fit, 100%, 200%, 400%, pan by drag or arrow keys) and the before/after
// compare slider of an output against the cropped source the model saw.

import { showImage } from "./api.js";
import { stars } from "./store.js";
import { $, showError } from "./ui.js";

/** @type {{asset: any, caption: string}[]} */
let items = [];
let index = 0;
/** @type {"fit" | number} */
let zoom = "fit";
/** @type {any} */
let pan = null;

/** @param {{asset: any, caption: string}[]} list @param {number} [start] */
export function openViewer(list, start = 0) {
  items = list;
  index = start;
  zoom = "fit";
  const dialog = $("#viewer");
  if (!dialog.open) dialog.showModal();
  show();
  $("#viewer-stage").focus();
}

async function show() {
  const { asset, caption } = items[index];
  const img = $("#viewer-image");
  img.alt = caption;
  delete img.dataset.loaded;
  $("#viewer-caption").textContent = `${caption} · ${asset.width}×${asset.height} px · ${index + 1} of ${items.length}${stars.has(asset.id) ? " · starred" : ""}`;
  $("#viewer-prev").disabled = index === 0;
  $("#viewer-next").disabled = index === items.length - 1;
  applyZoom();
  try {
    await showImage(img, asset.url);
  } catch (err) {
    showError(err, "Full-size image");
  }
}

function applyZoom() {
  const { asset } = items[index] || {};
  const stage = $("#viewer-stage");
  const img = $("#viewer-image");
  stage.classList.toggle("fit", zoom === "fit");
  if (zoom === "fit" || !asset) {
    img.style.width = "";
    img.style.height = "";
  } else {
    img.style.width = `${asset.width * zoom}px`;
    img.style.height = `${asset.height * zoom}px`;
  }
  img.classList.toggle("pixels", zoom !== "fit" && zoom > 1);
  for (const button of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll("#viewer [data-zoom]"))) {
    button.setAttribute("aria-pressed", String(button.dataset.zoom === String(zoom)));
  }
  $("#viewer-title").textContent = zoom === "fit" ? "Full size · fit to window" : `Full size · ${zoom * 100}%`;
  stage.dataset.zoom = String(zoom);
}

/** @param {"fit" | number} value */
function setZoom(value) {
  const stage = $("#viewer-stage");
  // keep the point in the middle of the view where it is
  const cx = (stage.scrollLeft + stage.clientWidth / 2) / Math.max(1, stage.scrollWidth);
  const cy = (stage.scrollTop + stage.clientHeight / 2) / Math.max(1, stage.scrollHeight);
  zoom = value;
  applyZoom();
  stage.scrollLeft = cx * stage.scrollWidth - stage.clientWidth / 2;
  stage.scrollTop = cy * stage.scrollHeight - stage.clientHeight / 2;
}

/** @param {number} delta */
function step(delta) {
  const next = index + delta;
  if (next < 0 || next >= items.length) return;
  index = next;
  show();
}

function initViewer() {
  const dialog = $("#viewer");
  const stage = $("#viewer-stage");
  for (const button of dialog.querySelectorAll("[data-zoom]")) {
    button.addEventListener("click", () => setZoom(button.dataset.zoom === "fit" ? "fit" : Number(button.dataset.zoom)));
  }
  $("#viewer-prev").addEventListener("click", () => step(-1));
  $("#viewer-next").addEventListener("click", () => step(1));
  $("#viewer-close").addEventListener("click", () => dialog.close());
  const toggleKeys = () => {
    const list = $("#viewer-keys");
    list.hidden = !list.hidden;
    $("#viewer-keys-toggle").setAttribute("aria-expanded", String(!list.hidden));
  };
  $("#viewer-keys-toggle").addEventListener("click", toggleKeys);
  stage.addEventListener("dblclick", () => setZoom(zoom === "fit" ? 1 : "fit"));
  stage.addEventListener("pointerdown", (event) => {
    if (zoom === "fit" || event.button > 0) return;
    event.preventDefault();
    stage.setPointerCapture(event.pointerId);
    pan = { x: event.clientX, y: event.clientY, left: stage.scrollLeft, top: stage.scrollTop };
    stage.classList.add("panning");
  });
  stage.addEventListener("pointermove", (event) => {
    if (!pan) return;
    stage.scrollLeft = pan.left - (event.clientX - pan.x);
    stage.scrollTop = pan.top - (event.clientY - pan.y);
  });
  const endPan = () => {
    pan = null;
    stage.classList.remove("panning");
  };
  stage.addEventListener("pointerup", endPan);
  stage.addEventListener("pointercancel", endPan);
  dialog.addEventListener("keydown", (event) => {
    if (/** @type {HTMLElement} */ (event.target).tagName === "BUTTON" && (event.key === "Enter" || event.key === " ")) return;
    /** @type {Record<string, "fit" | number>} */
    const zooms = { 0: "fit", 1: 1, 2: 2, 4: 4 };
    if (event.key in zooms) setZoom(zooms[event.key]);
    else if (event.key === "?") toggleKeys();
    else if ((event.key === "s" || event.key === "S") && items[index]) {
      stars.toggle(items[index].asset.id);
      show();
    }
    else if (event.key === "PageUp") step(-1);
    else if (event.key === "PageDown") step(1);
    else return;
    event.preventDefault();
  });
}

// -- before / after -----------------------------------------------------------------------------

/** @param {any} before @param {any} after @param {string} caption */
export async function openCompare(before, after, caption) {
  const dialog = $("#compare");
  $("#compare-caption").textContent = caption;
  $("#compare-after").alt = `After: ${caption}`;
  $("#compare-stage").style.setProperty("--ratio", `${after.width} / ${after.height}`);
  setSplit(50);
  if (!dialog.open) dialog.showModal();
  $("#compare-split").focus();
  try {
    await Promise.all([showImage($("#compare-before"), before.url), showImage($("#compare-after"), after.url)]);
  } catch (err) {
    showError(err, "Compare");
  }
}

/** @param {number} percent */
function setSplit(percent) {
  const value = Math.min(100, Math.max(0, Math.round(percent)));
  const slider = $("#compare-split");
  slider.value = String(value);
  slider.setAttribute("aria-valuetext", `${value}% before, ${100 - value}% after`);
  $("#compare-stage").style.setProperty("--split", `${value}%`);
}

function initCompare() {
  const dialog = $("#compare");
  const stage = $("#compare-stage");
  $("#compare-close").addEventListener("click", () => dialog.close());
  $("#compare-split").addEventListener("input", (event) => setSplit(Number(event.target.value)));
  let sliding = false;
  const follow = (event) => {
    const rect = stage.getBoundingClientRect();
    setSplit(((event.clientX - rect.left) / rect.width) * 100);
  };
  stage.addEventListener("pointerdown", (event) => {
    sliding = true;
    stage.setPointerCapture(event.pointerId);
    follow(event);
  });
  stage.addEventListener("pointermove", (event) => sliding && follow(event));
  stage.addEventListener("pointerup", () => (sliding = false));
  stage.addEventListener("pointercancel", () => (sliding = false));
}

export function initViewers() {
  initViewer();
  initCompare();
}
