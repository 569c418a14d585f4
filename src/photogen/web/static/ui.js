// @ts-check
// Building DOM elements, number formats, and the page's notices and confirmation dialog.

import { ApiError } from "./api.js";

/** The first element matching `selector` (typed loosely: the page's own ids are known to exist).
 * @type {(selector: string, root?: ParentNode) => any} */
export const $ = (selector, root = document) => root.querySelector(selector);

/** el("p", {class: "x", text: "hi"}, child...)
 * @param {string} tag @param {Record<string, any>} [attrs] @param {...any} children @returns {any} */
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

/** @param {string | null | undefined} id */
export const short = (id) => (id ? id.slice(0, 8) : "");

/** Timestamps from the server are UTC; some carry no zone suffix. @param {string | null | undefined} iso */
export function when(iso) {
  if (!iso) return "";
  const date = new Date(/[zZ]|[+-]\d\d:\d\d$/.test(iso) ? iso : `${iso}Z`);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** @param {any} value @param {number} [digits] */
export function number(value, digits = 2) {
  if (typeof value !== "number") return String(value ?? "");
  return Number.isInteger(value) ? String(value) : String(Number(value.toFixed(digits)));
}

/** @type {Record<string, string>} */
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

/** A request's parameters as [label, text] pairs, in reading order, leaving out what is unset.
 * @param {any} request @returns {[string, string][]} */
export function parameterList(request) {
  /** @type {[string, string][]} */
  const rows = [];
  for (const name of Object.keys(LABELS)) {
    const value = request[name];
    if (value == null || value === "") continue;
    rows.push([LABELS[name], Array.isArray(value) ? value.join(", ") : number(value)]);
  }
  return rows;
}

/** @param {[string, string][]} rows @param {string} [className] */
export function definitionList(rows, className = "params") {
  return el("dl", { class: className }, rows.map(([term, value]) => [el("dt", { text: term }), el("dd", { text: value })]));
}

// -- notices ------------------------------------------------------------------------------------
// At most MAX_NOTICES at once (the oldest goes first); confirmations and undo offers go away by
// themselves, errors stay until dismissed. The stack moves to the top of the screen whenever it would
// cover a primary control (Generate, Cancel) at the bottom.

const MAX_NOTICES = 3;
export const INFO_MS = 6000;

/** @param {HTMLElement} notice */
function addNotice(notice) {
  const box = $("#notices");
  box.append(notice);
  const all = [...box.children];
  while (all.length > MAX_NOTICES) {
    const oldest = all.find((n) => !n.classList.contains("error")) || all[0];
    all.splice(all.indexOf(oldest), 1);
    const undo = /** @type {any} */ (oldest).commit;
    if (typeof undo === "function") undo(); // an undo offer pushed out: the action goes ahead
    oldest.remove();
  }
  placeNotices();
}

/** Keep the notices off the primary controls: at the bottom, unless one is there; then at the top. */
export function placeNotices() {
  const box = $("#notices");
  if (!box || !box.children.length) return;
  box.classList.remove("top");
  const covered = () => {
    const area = box.getBoundingClientRect();
    return [...document.querySelectorAll("button.primary, .job-cancel, #step-bar")].some((control) => {
      const r = control.getBoundingClientRect();
      return r.width > 0 && r.right > area.left && r.left < area.right && r.bottom > area.top && r.top < area.bottom;
    });
  };
  if (covered()) box.classList.add("top");
}

/** Show an error: the server's message and hint, or the exception's text. It stays until dismissed.
 * @param {any} err @param {string} [context] */
export function showError(err, context = "") {
  if (err && err.name === "AbortError") return;
  const message = err instanceof ApiError ? err.message : String((err && err.message) || err);
  const hint = err instanceof ApiError ? err.hint : "";
  const key = `${context}|${message}`;
  const same = [...document.querySelectorAll("#notices .notice.error")].find((n) => /** @type {HTMLElement} */ (n).dataset.key === key);
  if (same) return same; // one notice per distinct problem
  const notice = el(
    "div",
    { class: "notice error", role: "alert", dataset: { key } },
    el("p", {}, context ? el("strong", { text: `${context}: ` }) : null, message),
    hint ? el("p", { class: "hint", text: `How to fix it: ${hint}` }) : null,
    el("button", { type: "button", class: "quiet dismiss", "aria-label": "Dismiss", text: "×", onclick: () => notice.remove() }),
  );
  addNotice(notice);
  if (err instanceof ApiError && err.status === 401) $("#settings").open = true;
  return notice;
}

export function clearErrors() {
  for (const notice of document.querySelectorAll("#notices .notice.error")) notice.remove();
}

/** A short confirmation that goes away by itself. @param {string} text */
export function showInfo(text) {
  const notice = el("div", { class: "notice info", role: "status" }, el("p", { text }),
    el("button", { type: "button", class: "quiet dismiss", "aria-label": "Dismiss", text: "×", onclick: () => notice.remove() }));
  addNotice(notice);
  setTimeout(() => notice.remove(), INFO_MS);
  return notice;
}

/**
 * Something done for a few seconds with Undo: `commit` runs when the time is up (or the notice is pushed
 * out or dismissed), `undo` instead when Undo is pressed.
 * @param {string} text @param {() => void} undo @param {() => void} commit @param {number} [ms]
 */
export function offerUndo(text, undo, commit, ms = INFO_MS) {
  let settled = false;
  const settle = (/** @type {boolean} */ undone) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    notice.remove();
    if (undone) undo();
    else commit();
  };
  const notice = el("div", { class: "notice info undo", role: "status" }, el("p", { text }),
    el("button", { type: "button", class: "undo-button", text: "Undo", onclick: () => settle(true) }),
    el("button", { type: "button", class: "quiet dismiss", "aria-label": "Dismiss", text: "×", onclick: () => settle(false) }));
  /** @type {any} */ (notice).commit = () => settle(false);
  const timer = setTimeout(() => settle(false), ms);
  addNotice(notice);
  return notice;
}

/** Ask before something that cannot be undone; resolves true when confirmed.
 * @param {string} title @param {string} text @param {string} [okLabel] @returns {Promise<boolean>} */
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

/** @type {Record<string, string>} */
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
/** @param {string} name @param {number[] | null} [ratio] */
export function presetLabel(name, ratio) {
  const label = PRESET_LABELS[name] || name;
  return ratio ? `${label} (${number(ratio[0])}:${number(ratio[1])})` : label;
}

/** Seconds as people say them: "8 s", "1 min 5 s". @param {number} seconds */
export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ""}`;
}
