// Step 1: photos in by drag-and-drop, file picker or paste; a thumbnail at once; the session's
// photos as a strip to pick from; delete with everything made from a photo.

import { api, forgetImages, showImage } from "./api.js";
import { emit, on, state } from "./store.js";
import { $, confirmAction, el, presetLabel, showError, showInfo } from "./ui.js";

const pending = new Map(); // temporary id -> {file, url, error}
const localUrls = new Map(); // upload id -> object URL of the file this page sent (shown at once)
let pendingCount = 0;

export function initUpload() {
  const use = $("#use");
  for (const preset of state.presets) use.append(el("option", { value: preset.name, text: presetLabel(preset.name, preset.ratio) }));
  const remembered = localStorage.getItem("photogen.use");
  if (remembered && [...use.options].some((o) => o.value === remembered)) use.value = remembered;
  use.addEventListener("change", () => localStorage.setItem("photogen.use", use.value));

  const input = $("#file-input");
  input.addEventListener("change", () => {
    addFiles(input.files);
    input.value = "";
  });

  const zone = $("#dropzone");
  zone.addEventListener("keydown", (event) => {
    if (event.target === zone && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      input.click();
    }
  });
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

function addFiles(fileList) {
  const files = [...fileList].filter((file) => file.type === "" || file.type.startsWith("image/"));
  if (!files.length && fileList.length) showError(new Error("only image files can be uploaded"), "Upload");
  for (const file of files) uploadOne(file);
}

async function uploadOne(file) {
  const tempId = `pending-${++pendingCount}`;
  const url = URL.createObjectURL(file);
  pending.set(tempId, { file, url, error: null });
  renderThumbs();
  try {
    const upload = await api.createUpload(file, $("#use").value);
    pending.delete(tempId);
    localUrls.set(upload.id, url);
    state.uploads.delete(upload.id); // the same bytes again: move it to the front
    state.uploads.set(upload.id, upload);
    emit("uploads");
    select(upload.id);
  } catch (err) {
    pending.get(tempId).error = err;
    renderThumbs();
    showError(err, `Upload of ${file.name || "the pasted image"}`);
  }
}

export function select(uploadId) {
  if (state.selected === uploadId) return;
  state.selected = uploadId;
  emit("select", uploadId);
}

function thumbImage(upload) {
  const img = el("img", { alt: "", draggable: "false" });
  const local = localUrls.get(upload.id);
  if (local) img.src = local;
  else showImage(img, api.previewPath(upload.id, 256)).catch(() => img.classList.add("broken"));
  return img;
}

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

export async function deleteUpload(upload) {
  const name = upload.filename || "this photo";
  const ok = await confirmAction(`Delete ${name}?`,
    "The photo, its crops, every job made from it and their images are deleted from the server. This cannot be undone.");
  if (!ok) return;
  try {
    const { deleted } = await api.deleteUpload(upload.id);
    state.uploads.delete(upload.id);
    state.acknowledged.delete(upload.id);
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
