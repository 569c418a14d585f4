// Building DOM elements, number formats, and the page's notices and confirmation dialog.

import { ApiError } from "./api.js";

export const $ = (selector, root = document) => root.querySelector(selector);

/** el("p", {class: "x", text: "hi"}, child...) */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child != null && child !== false) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export const short = (id) => (id ? id.slice(0, 8) : "");

/** Timestamps from the server are UTC; some carry no zone suffix. */
export function when(iso) {
  if (!iso) return "";
  const date = new Date(/[zZ]|[+-]\d\d:\d\d$/.test(iso) ? iso : `${iso}Z`);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function number(value, digits = 2) {
  if (typeof value !== "number") return String(value ?? "");
  return Number.isInteger(value) ? String(value) : String(Number(value.toFixed(digits)));
}

export const LABELS = {
  recipe: "Recipe",
  prompt: "Prompt",
  negative_prompt: "Negative prompt",
  image_strength: "Image strength",
  seed: "Seed",
  steps: "Steps",
  guidance: "Guidance",
  num_images: "Images",
  scheduler: "Scheduler",
  model: "Model",
  crop_preset: "Crop preset",
  crop_box: "Crop box",
  aspect_ratio: "Aspect ratio",
};

/** A request's parameters as [label, text] pairs, in reading order, leaving out what is unset. */
export function parameterList(request) {
  const rows = [];
  for (const name of Object.keys(LABELS)) {
    const value = request[name];
    if (value == null || value === "") continue;
    rows.push([LABELS[name], Array.isArray(value) ? value.join(", ") : number(value)]);
  }
  return rows;
}

export function definitionList(rows, className = "params") {
  return el("dl", { class: className }, rows.map(([term, value]) => [el("dt", { text: term }), el("dd", { text: value })]));
}

// -- notices ------------------------------------------------------------------------------------

/** Show an error: the server's message and hint, or the exception's text. */
export function showError(err, context = "") {
  if (err && err.name === "AbortError") return;
  const message = err instanceof ApiError ? err.message : String((err && err.message) || err);
  const hint = err instanceof ApiError ? err.hint : "";
  const key = `${context}|${message}`;
  const same = [...document.querySelectorAll("#notices .notice.error")].find((n) => n.dataset.key === key);
  if (same) return same; // one notice per distinct problem
  const notice = el(
    "div",
    { class: "notice error", role: "alert", dataset: { key } },
    el("p", {}, context ? el("strong", { text: `${context}: ` }) : null, message),
    hint ? el("p", { class: "hint", text: `How to fix it: ${hint}` }) : null,
    el("button", { type: "button", class: "quiet dismiss", "aria-label": "Dismiss", text: "×", onclick: () => notice.remove() }),
  );
  $("#notices").append(notice);
  if (err instanceof ApiError && err.status === 401) $("#settings").open = true;
  return notice;
}

export function clearErrors() {
  for (const notice of document.querySelectorAll("#notices .notice.error")) notice.remove();
}

/** A short confirmation that goes away by itself. */
export function showInfo(text) {
  const notice = el("div", { class: "notice info", role: "status" }, el("p", { text }));
  $("#notices").append(notice);
  setTimeout(() => notice.remove(), 6000);
  return notice;
}

/** Ask before something that cannot be undone; resolves true when confirmed. */
export function confirmAction(title, text, okLabel = "Delete") {
  const dialog = $("#confirm");
  $("#confirm-title").textContent = title;
  $("#confirm-text").textContent = text;
  $("#confirm-ok").textContent = okLabel;
  dialog.returnValue = "cancel";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

const PRESET_LABELS = {
  general: "General",
  headshot: "LinkedIn headshot",
  "instagram-square": "Instagram square",
  "instagram-portrait": "Instagram portrait",
  "product-hero": "Product hero",
  "product-square": "Product square",
  poster: "Poster or print",
};

/** A preset's name for people, with its ratio when known: "LinkedIn headshot (4:5)". */
export function presetLabel(name, ratio) {
  const label = PRESET_LABELS[name] || name;
  return ratio ? `${label} (${number(ratio[0])}:${number(ratio[1])})` : label;
}
