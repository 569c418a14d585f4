// @ts-check
// Step 1: photos in by drag-and-drop, file picker or paste; a thumbnail at once; the session's
// photos as a strip to pick from; delete with everything made from a photo. The same file again
// (same SHA-256) picks the photo already uploaded instead of sending it twice.

import { api, forgetImages, showImage } from "./api.js";
import { emit, keep, kept, on, state, writeUrl } from "./store.js";
import { $, confirmAction, el, showError, showInfo } from "./ui.js";

/** @type {Map<string, {file: File, url: string, error: any}>} temporary id -> the file being sent */
const pending = new Map();
/** @type {Map<string, string>} upload id -> object URL of the file this page sent (shown at once) */
const localUrls = new Map();
let pendingCount = 0;
const USES = new Set(["general", "headshot", "instagram-square", "instagram-portrait", "product-hero", "product-square", "poster"]);

/** The preflight use for the chosen "What is the photo for?" (a custom crop is checked as general). */
function currentUse() {
  const value = $("#preset").value;
  return USES.has(value) ? value : "general";
}

export function initUpload() {
  const input = $("#file-input");
  input.addEventListener("change", () => {
    addFiles(input.files);
    input.value = "";
  });
  $("#choose-files").addEventListener("click", () => input.click());

  const zone = $("#dropzone");
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("over");
    });
  }
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    addFiles(event.dataTransfer ? event.dataTransfer.files : []);
  });
  // A photo dropped anywhere else would make the browser navigate away from the page.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());

  document.addEventListener("paste", (event) => {
    const files = [...((event.clipboardData && event.clipboardData.files) || [])].filter((f) => f.type.startsWith("image/"));
    if (!files.length) return; // plain text pastes into the prompt as usual
    event.preventDefault();
    addFiles(files);
  });

  on("uploads", renderThumbs);
  on("select", renderThumbs);
}

/** Load the photos already on the server (newest first). */
export async function loadUploads() {
  const uploads = await api.uploads();
  for (const upload of uploads.reverse()) state.uploads.set(upload.id, upload);
  emit("uploads");
}

/** @param {FileList | File[]} fileList */
function addFiles(fileList) {
  const files = [...fileList].filter((file) => file.type === "" || file.type.startsWith("image/"));
  if (!files.length && fileList.length) showError(new Error("only image files can be uploaded"), "Upload");
  for (const file of files) uploadOne(file);
}

/** The SHA-256 of a file's bytes, as the server names uploads (null where the browser cannot hash).
 * @param {Blob} file */
async function sha256Of(file) {
  try {
    const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
    return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  } catch {
    return null;
  }
}

/** @param {File} file */
export async function uploadOne(file) {
  const digest = await sha256Of(file);
  const known = digest ? [...state.uploads.values()].find((u) => u.sha256 === digest) : null;
  if (known) {
    select(known.id);
    showInfo(`${file.name || "This image"} is already here as ${known.filename || "a photo"}: picked it.`);
    return known;
  }
  const tempId = `pending-${++pendingCount}`;
  const url = URL.createObjectURL(file);
  pending.set(tempId, { file, url, error: null });
  renderThumbs();
  try {
    const upload = await api.createUpload(file, currentUse());
    pending.delete(tempId);
    localUrls.set(upload.id, url);
    state.uploads.delete(upload.id); // the same bytes again: move it to the front
    state.uploads.set(upload.id, upload);
    emit("uploads");
    select(upload.id);
    return upload;
  } catch (err) {
    const item = pending.get(tempId);
    if (item) item.error = err;
    renderThumbs();
    showError(err, `Upload of ${file.name || "the pasted image"}`);
    return null;
  }
}

/** @param {string | null} uploadId */
export function select(uploadId) {
  if (state.selected === uploadId) return;
  state.selected = uploadId;
  keep("photo", uploadId);
  writeUrl();
  emit("select", uploadId);
}

/** The photo to start on after a reload: the address's, else the last one picked, else the newest. */
export function startingPhoto(/** @type {string | null} */ fromAddress) {
  if (fromAddress && state.uploads.has(fromAddress)) return fromAddress;
  const last = kept("photo", /** @type {string | null} */ (null));
  if (last && state.uploads.has(last)) return last;
  return [...state.uploads.keys()].pop() || null;
}

/** @param {any} upload */
function thumbImage(upload) {
  const img = el("img", { alt: "", draggable: "false" });
  const local = localUrls.get(upload.id);
  if (local) img.src = local;
  else showImage(img, api.previewPath(upload.id, 256)).catch(() => img.classList.add("broken"));
  return img;
}

/** @param {any} upload */
function levelText(upload) {
  const level = upload.preflight ? upload.preflight.level : "ok";
  return { ok: "ready", warn: "warnings", block: "blocked" }[level] || level;
}

function renderThumbs() {
  const list = $("#thumbs");
  list.replaceChildren();
  for (const [tempId, item] of [...pending].reverse()) {
    list.append(
      el(
        "li",
        { class: `thumb pending${item.error ? " failed" : ""}`, dataset: { pending: tempId } },
        el("div", { class: "thumb-pick" }, el("img", { src: item.url, alt: "" }),
          el("span", { class: "thumb-name", text: item.file.name || "pasted image" }),
          el("span", { class: "thumb-state", text: item.error ? "failed" : "uploading…" })),
        item.error
          ? el("button", { type: "button", class: "quiet thumb-delete", "aria-label": `Remove ${item.file.name}`, text: "×",
            onclick: () => { URL.revokeObjectURL(item.url); pending.delete(tempId); renderThumbs(); } })
          : null,
      ),
    );
  }
  for (const upload of [...state.uploads.values()].reverse()) {
    const name = upload.filename || `photo ${upload.id.slice(0, 6)}`;
    const level = upload.preflight ? upload.preflight.level : "ok";
    const selected = upload.id === state.selected;
    list.append(
      el(
        "li",
        { class: `thumb level-${level}${selected ? " selected" : ""}`, dataset: { upload: upload.id } },
        el("button", { type: "button", class: "thumb-pick", "aria-pressed": String(selected),
          "aria-label": `${name}, ${upload.width}×${upload.height}, ${levelText(upload)}`, onclick: () => select(upload.id) },
        thumbImage(upload),
        el("span", { class: "thumb-name", text: name }),
        el("span", { class: "thumb-state", text: levelText(upload) })),
        el("button", { type: "button", class: "quiet thumb-delete", "aria-label": `Delete ${name} and everything made from it`,
          title: "Delete this photo and everything made from it", text: "×", onclick: () => deleteUpload(upload) }),
      ),
    );
  }
}

/** @param {any} upload */
export async function deleteUpload(upload) {
  const name = upload.filename || "this photo";
  const ok = await confirmAction(`Delete ${name}?`,
    "The photo, its crops, every job made from it and their images are deleted from the server. This cannot be undone.");
  if (!ok) return;
  try {
    const { deleted } = await api.deleteUpload(upload.id);
    state.uploads.delete(upload.id);
    state.acknowledged.delete(upload.id);
    keep("acknowledged", [...state.acknowledged]);
    forgetImages(upload.id);
    const local = localUrls.get(upload.id);
    if (local) URL.revokeObjectURL(local);
    localUrls.delete(upload.id);
    emit("deleted", upload.id);
    if (state.selected === upload.id) {
      const next = [...state.uploads.keys()].pop() || null;
      state.selected = null;
      if (next) select(next);
      else emit("select", null);
    }
    emit("uploads");
    const jobs = deleted.jobs ?? 0;
    const assets = deleted.assets ?? 0;
    showInfo(`Deleted ${name} with ${jobs} job${jobs === 1 ? "" : "s"} and ${assets} image${assets === 1 ? "" : "s"}.`);
  } catch (err) {
    showError(err, `Delete ${name}`);
  }
}
