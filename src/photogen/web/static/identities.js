// @ts-check
// Identity sets: a few photos of one person or one product, made from the session's uploads, each with
// its coverage report (usable photos, head angles, camera distance, light, consistency, what is missing).

import { api, showImage } from "./api.js";
import { on, state } from "./store.js";
import { avatarSection } from "./refs.js";
import { $, confirmAction, definitionList, el, number, showError, showInfo, when } from "./ui.js";

const WORDS = {
  straight_on: "straight-on",
  three_quarter_left: "three-quarter left",
  three_quarter_right: "three-quarter right",
  close_up: "close-up",
  head_and_shoulders: "head and shoulders",
  wide: "wide",
  detail: "detail",
  whole: "whole product",
  in_context: "in context",
  even: "even light",
  from_left: "light from the left",
  from_right: "light from the right",
};
const VERDICTS = { ok: "Good coverage", warn: "Usable, with gaps", block: "Needs attention" };
const LEVEL_MARKS = { ok: "✓", warn: "!", block: "✕" };

let visible = false;
let shown = null; // id of the set in the coverage panel

const word = (name) => WORDS[name] || name;
const plural = (count, noun) => `${count} ${noun}${count === 1 ? "" : "s"}`;
const percent = (value) => `${Math.round(value * 100)}%`;

/** "straight-on 2 · three-quarter left 0" from a {band: count} mapping. */
const counts = (mapping) => Object.entries(mapping || {}).map(([name, count]) => `${word(name)} ${count}`).join(" · ");

function thumb(uploadId, alt) {
  const img = el("img", { alt, draggable: "false", loading: "lazy" });
  showImage(img, api.previewPath(uploadId, 256)).catch(() => img.classList.add("broken"));
  return img;
}

// -- the list and the form --------------------------------------------------------------------

export async function loadSets() {
  let sets;
  try {
    sets = await api.identities();
  } catch (err) {
    showError(err, "Identity sets");
    return;
  }
  $("#identity-list-empty").hidden = sets.length > 0;
  $("#identity-list").replaceChildren(...sets.map((set) => el("li", { dataset: { set: set.id } },
    el("button", { type: "button", class: "identity-item", "aria-pressed": String(set.id === shown), onclick: () => showSet(set.id) },
      el("strong", { text: set.name }),
      el("span", { class: "muted", text: ` ${set.kind}, ${plural(set.references, "photo")}, ${set.usable} usable` })))));
}

function renderPick() {
  const list = $("#identity-pick");
  const ticked = new Set([...list.querySelectorAll("input:checked")].map((input) => input.value));
  const uploads = [...state.uploads.values()].reverse();
  list.replaceChildren(...uploads.map((upload) => {
    const name = upload.filename || `photo ${upload.id.slice(0, 6)}`;
    return el("li", {},
      el("label", { class: "identity-pick-item" },
        el("input", { type: "checkbox", value: upload.id, checked: ticked.has(upload.id) }),
        thumb(upload.id, ""),
        el("span", { text: name })));
  }));
  if (!uploads.length) list.append(el("li", { class: "empty", text: "No photos yet: upload some under Create." }));
}

async function createSet(event) {
  event.preventDefault();
  const ids = [...$("#identity-pick").querySelectorAll("input:checked")].map((input) => input.value);
  const name = $("#identity-name").value.trim();
  if (!name) {
    showError(new Error("give the set a name"), "New identity set");
    $("#identity-name").focus();
    return;
  }
  if (!ids.length) {
    showError(new Error("tick at least one photo"), "New identity set");
    return;
  }
  const button = $("#identity-create");
  button.disabled = true;
  try {
    const set = await api.createIdentity({ name, kind: $("#identity-kind").value, upload_ids: ids });
    $("#identity-name").value = "";
    for (const input of $("#identity-pick").querySelectorAll("input:checked")) input.checked = false;
    showInfo(`Made the identity set ${set.name} from ${plural(set.references, "photo")}.`);
    renderSet(set);
    await loadSets();
  } catch (err) {
    showError(err, "New identity set");
  } finally {
    button.disabled = false;
  }
}

// -- the coverage report ----------------------------------------------------------------------

export async function showSet(id) {
  try {
    renderSet(await api.identity(id));
  } catch (err) {
    showError(err, "Identity set");
  }
  await loadSets();
}

function spreadText(spread, format, unit) {
  if (!spread || spread.min == null) return "not measured";
  const range = spread.min === spread.max ? format(spread.min) : `${format(spread.min)} to ${format(spread.max)}`;
  const bands = counts(spread.counts);
  return `${range}${unit}${bands ? ` (${bands})` : ""}`;
}

function reference(member, set) {
  const facts = [member.angle && word(member.angle), member.distance && word(member.distance), member.light && word(member.light)]
    .filter(Boolean).join(" · ");
  const yaw = member.measures && member.measures.yaw_degrees != null ? `, turned ${number(member.measures.yaw_degrees, 0)}°` : "";
  return el("li", { class: `identity-ref level-${member.level}`, dataset: { upload: member.upload_id } },
    thumb(member.upload_id, member.filename || "reference"),
    el("div", { class: "identity-ref-text" },
      el("p", { class: "check-head" },
        el("span", { class: "badge", "aria-hidden": "true", text: LEVEL_MARKS[member.level] }), " ",
        el("strong", { text: member.filename || `upload ${member.upload_id.slice(0, 8)}` }),
        member.usable ? null : el("span", { class: "muted", text: " — not usable" })),
      facts ? el("p", { class: "readout", text: `${facts}${yaw}` }) : null,
      member.similarity != null ? el("p", { class: "readout", text: `similarity ${number(member.similarity, 2)} to the set's ${set.kind}` }) : null,
      member.usable ? null : el("p", { text: member.note }), // a flagged photo's note is the flag above
      el("button", { type: "button", class: "quiet", text: "Remove from the set",
        "aria-label": `Remove ${member.filename || "this photo"} from ${set.name}`, onclick: () => removeMember(set, member) })));
}

function renderSet(set) {
  shown = set.id;
  const report = set.coverage;
  const lighting = report.lighting;
  const body = $("#coverage-body");
  body.dataset.set = set.id;
  body.replaceChildren(
    el("h3", { text: set.name }),
    el("p", { class: `verdict level-${report.level}`, id: "coverage-verdict",
      text: `${VERDICTS[report.level]}: ${plural(report.references.total, "photo")}, ${report.references.usable} usable` }),
    report.flags.length
      ? el("ul", { class: "checks", "aria-label": "Photos to look at" }, report.flags.map((flag) =>
        el("li", { class: `check level-${flag.level}` },
          el("span", { class: "badge", "aria-hidden": "true", text: LEVEL_MARKS[flag.level] }),
          el("div", {}, el("p", { class: "check-head", text: flag.message }), el("p", { class: "help", text: flag.fix })))))
      : null,
    report.missing.length
      ? el("section", { "aria-labelledby": "missing-heading" },
        el("h4", { id: "missing-heading", text: "What is missing" }),
        el("ul", { class: "identity-missing" }, report.missing.map((line) => el("li", { text: line }))))
      : el("p", { class: "help", text: "Nothing missing." }),
    definitionList([
      ...(report.angles ? [["Angles", counts(report.angles)]] : []),
      ["Distance", spreadText(report.distance, percent, set.kind === "person" ? " of the frame's height" : " of the frame")],
      ["Brightness", spreadText(lighting.brightness, (v) => number(v, 0), " of 255")],
      ["Light", spreadText(lighting.direction, (v) => `${v > 0 ? "+" : ""}${number(v, 2)}`, " stops")],
      ["Consistency", report.consistency.message],
      ...report.notes.map((note) => ["Not measured", note]),
    ], "params compact"),
    el("h4", { text: "Photos" }),
    el("ul", { class: "identity-refs" }, set.members.map((member) => reference(member, set))),
    el("details", {},
      el("summary", { text: "History" }),
      el("ol", { class: "identity-history" }, set.history.map((entry) => el("li", {},
        el("time", { datetime: entry.at, text: when(entry.at) }), " ",
        `${entry.action} ${entry.filename ?? `upload ${entry.upload_id.slice(0, 8)} (deleted)`} by ${entry.by}`,
        entry.reason ? `: ${entry.reason}` : "")))),
    el("div", { class: "row" },
      el("button", { type: "button", class: "danger quiet", text: "Delete this set…", onclick: () => deleteSet(set) })),
  );
  body.hidden = false;
  $("#coverage-empty").hidden = true;
  avatarSection(set).then((section) => {
    if (shown === set.id) body.append(section);
  });
}

async function removeMember(set, member) {
  try {
    renderSet(await api.updateIdentity(set.id, { remove: [member.upload_id] }));
    await loadSets();
  } catch (err) {
    showError(err, `Remove ${member.filename || "the photo"}`);
  }
}

async function deleteSet(set) {
  const ok = await confirmAction(`Delete the set ${set.name}?`, "The set and its history are deleted; the photos stay.");
  if (!ok) return;
  try {
    await api.deleteIdentity(set.id);
    shown = null;
    $("#coverage-body").hidden = true;
    $("#coverage-empty").hidden = false;
    showInfo(`Deleted the identity set ${set.name}.`);
    await loadSets();
  } catch (err) {
    showError(err, `Delete ${set.name}`);
  }
}

export function initIdentities() {
  $("#identity-form").addEventListener("submit", createSet);
  on("view", (name) => {
    visible = name === "identities";
    if (!visible) return;
    renderPick();
    loadSets();
  });
  on("uploads", () => { if (visible) renderPick(); });
  on("deleted", () => {
    if (!visible) return;
    if (shown) showSet(shown);
    else loadSets();
  });
}
