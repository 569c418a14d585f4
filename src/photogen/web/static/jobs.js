// @ts-check
// Jobs: submitted with an Idempotency-Key, followed live through their Server-Sent Events
// (polling the job when the stream cannot be read), shown as cards with a progress bar, what is
// happening in plain words (loading the model, how far, time so far and an estimate), a live
// preview of the picture every few steps, Cancel, and Delete with a few seconds to undo.

import { api, readEvents } from "./api.js";
import { emit, on, state } from "./store.js";
import { $, duration, el, offerUndo, short, showError } from "./ui.js";

export const FINISHED = new Set(["succeeded", "failed", "canceled"]);
/** @type {Record<string, string>} */
const STATE_WORDS = { queued: "Queued", running: "Running", succeeded: "Done", failed: "Failed", canceled: "Canceled", deleted: "Deleted" };

/** @type {Map<string, any>} id -> job as last seen */
const jobs = new Map();
/** @type {Map<string, any>} id -> card element (jobs of this session) */
const cards = new Map();
const following = new Set();
/** @type {Map<string, {started: number, firstStep: number | null, stepAt: number | null, firstStepCount: number}>} */
const clocks = new Map();
/** @type {Map<string, string>} id -> the latest preview (a data URL) */
const previews = new Map();
// A browser keeps about six connections per server; each event stream holds one for as long as its
// job runs. Beyond this many at once, jobs are polled so images and API calls still get through.
const MAX_STREAMS = 2;
let streams = 0;

/** @param {string | null} id */
export const jobOf = (id) => (id && jobs.get(id)) || null;
/** @param {string} id */
export const previewOf = (id) => previews.get(id) || null;
/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** @param {any} job */
export function remember(job) {
  const known = jobs.get(job.id);
  // A finished job is final; a late event or a stale poll must not move it back.
  if (known && FINISHED.has(known.state) && !FINISHED.has(job.state)) return known;
  jobs.set(job.id, job);
  tick(job);
  emit("job", job);
  return job;
}

/** Note when a job started running and when its steps came, for the time so far and the estimate.
 * @param {any} job */
function tick(job) {
  const now = performance.now();
  let clock = clocks.get(job.id);
  if (!clock && job.state === "running") {
    clock = { started: now, firstStep: null, stepAt: null, firstStepCount: 0 };
    clocks.set(job.id, clock);
  }
  if (!clock) return;
  const step = (job.progress && job.progress.step) || 0;
  if (step > 0 && clock.firstStep === null) {
    clock.firstStep = now;
    clock.firstStepCount = step;
  }
  if (step > 0) clock.stepAt = now;
}

/**
 * The request of a job as a new payload: its recorded request (seed resolved), unset fields left out.
 * The recorded prompt is already filled from the job's recipe, so the recipe is not sent again
 * (it would fill its template a second time); every field it set is in the request itself.
 * @param {any} job @param {Record<string, any>} [changes]
 */
export function requestOf(job, changes = {}) {
  /** @type {any} */
  const payload = { upload_id: job.upload_id };
  for (const [name, value] of Object.entries({ ...job.request, ...changes })) {
    if (value !== null && value !== undefined && name !== "recipe") payload[name] = value;
  }
  if (job.assets && job.assets.some((/** @type {any} */ a) => a.kind === "upscale" && a.job_id === job.id)) payload.delivery = "preset";
  return payload;
}

/** Submit a generation and follow it. @param {any} payload */
export async function submit(payload) {
  return track(await api.generate(payload));
}

/** A job just made by the server (a generation, a variation, an upscale): carded and followed. @param {any} made */
export function track(made) {
  const job = remember(made);
  addCard(job);
  follow(job.id);
  return job;
}

/** Follow a job until it ends: its event stream (or polling), then reads of the job until it has ended.
 * @param {string} id */
export async function follow(id) {
  if (following.has(id)) return;
  following.add(id);
  if (streams < MAX_STREAMS) {
    streams += 1;
    try {
      await readEvents(id, (event) => onEvent(id, event));
    } catch (err) {
      if (err.status === 404) {
        markDeleted(id);
        following.delete(id);
        return;
      }
      // the stream could not be read: polling below still finishes the job
    } finally {
      streams -= 1;
    }
  }
  try {
    for (let delay = 250; ; delay = Math.min(delay * 2, 1000)) {
      const job = remember(await api.job(id));
      if (FINISHED.has(job.state)) break;
      await sleep(delay);
    }
  } catch (err) {
    if (err.status === 404) markDeleted(id);
    else showError(err, `Job ${short(id)}`);
  } finally {
    following.delete(id);
  }
}

/** @param {string} id @param {{name: string, data: any}} event */
function onEvent(id, { name, data }) {
  const job = jobs.get(id);
  if (!job || FINISHED.has(job.state)) return;
  if (data.state === "deleted") {
    markDeleted(id);
    return;
  }
  if (name === "preview" && typeof data.image === "string" && data.image.startsWith("data:image/")) {
    previews.set(id, data.image);
    const card = cards.get(id);
    if (card) {
      const img = card.querySelector(".job-preview");
      img.src = data.image;
      img.hidden = false;
    }
    emit("preview", id);
  }
  const next = { ...job, progress: { ...job.progress } };
  if (name === "state" && data.state) next.state = data.state;
  if (name === "progress" && next.state === "queued") next.state = "running";
  if (typeof data.step === "number") next.progress.step = Math.max(next.progress.step || 0, data.step);
  if (typeof data.phase === "string") next.progress.phase = data.phase; // e.g. loading_model, until the first step
  else if (name === "progress" && typeof data.step === "number" && data.step > 0) delete next.progress.phase;
  if (typeof data.total === "number" && data.total > 0) next.progress.total = data.total;
  if (FINISHED.has(next.state)) return; // the job itself (with its assets) is read next
  remember(next);
}

/** @param {string} id */
function markDeleted(id) {
  const job = jobs.get(id);
  jobs.delete(id);
  const card = cards.get(id);
  if (card) card.remove();
  cards.delete(id);
  updateEmpty();
  if (job) emit("job", { ...job, state: "deleted" });
}

/** Jobs already on the server that are still queued or running get a card and are followed. */
export async function loadJobs() {
  const list = await api.jobs(100);
  for (const job of list.reverse()) {
    remember(job);
    if (!FINISHED.has(job.state)) {
      addCard(job);
      follow(job.id);
    }
  }
  return list;
}

// -- what the card says ---------------------------------------------------------------------------

/** The share done, the time so far and what is left, in people's words (no step counts).
 * @param {any} job */
export function progressText(job) {
  const { step = 0, total = 0 } = job.progress || {};
  const clock = clocks.get(job.id);
  const now = performance.now();
  const outputs = (job.assets || []).filter((/** @type {any} */ a) => a.kind === "output").length;
  switch (job.state) {
    case "queued": return "Waiting for the worker…";
    case "running": {
      if (job.kind === "upscale") return "Enlarging…";
      const elapsed = clock ? (now - clock.started) / 1000 : 0;
      const so = elapsed >= 1 ? ` ${duration(elapsed)} so far` : "";
      if (!step && job.progress && job.progress.phase === "loading_model") return `Loading the model…${so}`;
      if (!step) return `Preparing the photo…${so}`;
      const share = total ? Math.min(100, Math.round((100 * step) / total)) : 0;
      let left = "";
      if (clock && clock.firstStep !== null && clock.stepAt !== null && step > clock.firstStepCount && total) {
        const perStep = (clock.stepAt - clock.firstStep) / 1000 / (step - clock.firstStepCount);
        left = `, about ${duration(perStep * (total - step) + 1)} left`;
      }
      return `Generating: ${share}% · ${duration(elapsed)} so far${left}`;
    }
    case "succeeded": {
      if (job.kind === "upscale") return "Done: enlarged.";
      const took = clock ? ` in ${duration((now - clock.started) / 1000)}` : "";
      return `Done: ${outputs} image${outputs === 1 ? "" : "s"}${took}.`;
    }
    case "failed": return `Failed: ${job.error ? job.error.message : "no reason given"}`;
    case "canceled": return "Canceled; no outputs were kept.";
    default: return job.state;
  }
}

/** @param {any} job */
function addCard(job) {
  if (cards.has(job.id)) return;
  const prompt = (job.request && job.request.prompt) || "";
  const what = job.kind === "upscale" ? `upscale ×${job.request.factor}` : `seed ${job.request.seed} · ${prompt.length > 48 ? `${prompt.slice(0, 47)}…` : prompt}`;
  const card = el(
    "li",
    { class: "job", tabindex: "-1", dataset: { job: job.id }, "aria-label": `Job ${short(job.id)}` },
    el("div", { class: "job-head" },
      el("span", { class: "job-title" }, el("strong", { text: `Job ${short(job.id)}` }), " ",
        el("span", { class: "muted", text: what })),
      el("span", { class: "job-state" })),
    el("div", { class: "job-body" },
      el("img", { class: "job-preview", alt: `Live preview of job ${short(job.id)}`, hidden: true }),
      el("div", { class: "job-main" },
        el("progress", { class: "job-progress", max: "1", value: "0", "aria-label": `Progress of job ${short(job.id)}` }),
        el("p", { class: "job-text", "aria-live": "polite" }))),
    el("div", { class: "row" },
      el("button", { type: "button", class: "quiet job-cancel", text: "Cancel", "aria-label": `Cancel job ${short(job.id)}`,
        onclick: () => cancel(job.id) }),
      el("button", { type: "button", class: "job-open", text: "Show results", onclick: () => {
        emit("review", job.id);
        emit("show-review");
      } }),
      el("button", { type: "button", class: "quiet job-delete", text: "Delete", "aria-label": `Delete job ${short(job.id)}`,
        onclick: () => deleteJob(job.id) })),
  );
  cards.set(job.id, card);
  $("#jobs").prepend(card);
  updateCard(job);
  updateEmpty();
}

/** @param {any} job */
function updateCard(job) {
  const card = cards.get(job.id);
  if (!card) return;
  const { step = 0, total = 0 } = job.progress || {};
  card.dataset.state = job.state;
  card.querySelector(".job-state").textContent = STATE_WORDS[job.state] || job.state;
  const bar = card.querySelector("progress");
  bar.max = Math.max(1, total);
  bar.value = job.state === "succeeded" ? bar.max : Math.min(step, bar.max);
  bar.setAttribute("aria-valuetext", progressText(job));
  card.querySelector(".job-text").textContent = job.cancel_requested && !FINISHED.has(job.state)
    ? "Cancel requested: stops in a moment…" : progressText(job);
  card.querySelector(".job-cancel").hidden = FINISHED.has(job.state);
  card.querySelector(".job-open").hidden = job.state !== "succeeded";
  card.querySelector(".job-delete").hidden = !FINISHED.has(job.state);
  if (FINISHED.has(job.state)) card.querySelector(".job-preview").hidden = true;
}

function updateEmpty() {
  $("#jobs-empty").hidden = cards.size > 0;
}

/** Move the keyboard focus to a job's card (after Generate, so focus does not fall to the page).
 * @param {string} id */
export function focusJob(id) {
  const card = cards.get(id);
  if (card) {
    card.focus({ preventScroll: true });
    card.scrollIntoView({ block: "nearest" });
  }
}

/** @param {string} id */
export async function cancel(id) {
  try {
    const job = await api.cancel(id);
    const known = jobs.get(id);
    remember({ ...job, assets: known ? known.assets : [] });
  } catch (err) {
    showError(err, `Cancel job ${short(id)}`);
  }
}

/** Delete a job with its images: gone from the page at once, deleted on the server unless undone in time.
 * @param {string} id */
export function deleteJob(id) {
  const job = jobs.get(id);
  if (!job) return;
  const card = cards.get(id);
  if (card) card.hidden = true;
  emit("hide-job", id);
  offerUndo(`Deleted job ${short(id)} and its images.`, () => {
    if (card) card.hidden = false;
    emit("unhide-job", id);
  }, async () => {
    try {
      await api.deleteJob(id);
      markDeleted(id);
    } catch (err) {
      if (card) card.hidden = false;
      emit("unhide-job", id);
      if (err.status === 404) markDeleted(id);
      else showError(err, `Delete job ${short(id)}`);
    }
  });
}

export function initJobs() {
  on("job", updateCard);
  on("deleted", (uploadId) => {
    for (const [id, job] of [...jobs]) if (job.upload_id === uploadId) markDeleted(id);
    if (state.reviewJob && !jobs.has(state.reviewJob)) emit("review", null);
  });
  // the time so far moves on between events
  setInterval(() => {
    for (const [id, job] of jobs) if (job.state === "running" && cards.has(id)) updateCard(job);
  }, 1000);
}
