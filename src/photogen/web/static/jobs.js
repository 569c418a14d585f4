// Jobs: submitted with an Idempotency-Key, followed live through their Server-Sent Events
// (polling the job when the stream cannot be read), shown as cards with a progress bar and Cancel.

import { api, readEvents } from "./api.js";
import { emit, on, state } from "./store.js";
import { $, el, short, showError } from "./ui.js";

export const FINISHED = new Set(["succeeded", "failed", "canceled"]);
const STATE_WORDS = { queued: "Queued", running: "Running", succeeded: "Done", failed: "Failed", canceled: "Canceled", deleted: "Deleted" };

const jobs = new Map(); // id -> job as last seen
const cards = new Map(); // id -> card element (jobs of this session)
const following = new Set();
// A browser keeps about six connections per server; each event stream holds one for as long as its
// job runs. Beyond this many at once, jobs are polled so images and API calls still get through.
const MAX_STREAMS = 2;
let streams = 0;

export const jobOf = (id) => jobs.get(id) || null;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function remember(job) {
  const known = jobs.get(job.id);
  // A finished job is final; a late event or a stale poll must not move it back.
  if (known && FINISHED.has(known.state) && !FINISHED.has(job.state)) return known;
  jobs.set(job.id, job);
  emit("job", job);
  return job;
}

/**
 * The request of a job as a new payload: its recorded request (seed resolved), unset fields left out.
 * The recorded prompt is already filled from the job's recipe, so the recipe is not sent again
 * (it would fill its template a second time); every field it set is in the request itself.
 */
export function requestOf(job, changes = {}) {
  const payload = { upload_id: job.upload_id };
  for (const [name, value] of Object.entries({ ...job.request, ...changes })) {
    if (value !== null && value !== undefined && name !== "recipe") payload[name] = value;
  }
  return payload;
}

export async function submit(payload) {
  const job = remember(await api.generate(payload));
  addCard(job);
  follow(job.id);
  return job;
}

/** Follow a job until it ends: its event stream (or polling), then reads of the job until it has ended. */
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

function onEvent(id, { name, data }) {
  const job = jobs.get(id);
  if (!job || FINISHED.has(job.state)) return;
  if (data.state === "deleted") {
    markDeleted(id);
    return;
  }
  const next = { ...job, progress: { ...job.progress } };
  if (name === "state" && data.state) next.state = data.state;
  if (typeof data.step === "number") next.progress.step = data.step;
  if (typeof data.total === "number" && data.total > 0) next.progress.total = data.total;
  if (FINISHED.has(next.state)) return; // the job itself (with its assets) is read next
  remember(next);
}

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

// -- cards --------------------------------------------------------------------------------------

function progressText(job) {
  const { step = 0, total = 0 } = job.progress || {};
  const images = job.request.num_images || 1;
  const together = images > 1 ? ` (${images} images together)` : "";
  switch (job.state) {
    case "queued": return "Waiting for the worker…";
    case "running": return `Step ${step} of ${total || "?"}${together}`;
    case "succeeded": return `Done: ${job.assets.filter((a) => a.kind === "output").length} images, step ${step} of ${total}`;
    case "failed": return `Failed: ${job.error ? job.error.message : "no reason given"}`;
    case "canceled": return "Canceled; no outputs were kept.";
    default: return job.state;
  }
}

function addCard(job) {
  if (cards.has(job.id)) return;
  const prompt = job.request.prompt || "";
  const card = el(
    "li",
    { class: "job", dataset: { job: job.id } },
    el("div", { class: "job-head" },
      el("span", { class: "job-title" }, el("strong", { text: `Job ${short(job.id)}` }), " ",
        el("span", { class: "muted", text: `seed ${job.request.seed} · ${prompt.length > 48 ? `${prompt.slice(0, 47)}…` : prompt}` })),
      el("span", { class: "job-state" })),
    el("progress", { class: "job-progress", max: "1", value: "0", "aria-label": `Progress of job ${short(job.id)}` }),
    el("p", { class: "job-text", "aria-live": "polite" }),
    el("div", { class: "row" },
      el("button", { type: "button", class: "quiet job-cancel", text: "Cancel", "aria-label": `Cancel job ${short(job.id)}`,
        onclick: () => cancel(job.id) }),
      el("button", { type: "button", class: "job-open", text: "Show results", onclick: () => {
        emit("review", job.id);
        $("#review-panel").scrollIntoView({ block: "start", behavior: "smooth" });
      } })),
  );
  cards.set(job.id, card);
  $("#jobs").prepend(card);
  updateCard(job);
  updateEmpty();
}

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
    ? "Cancel requested: stops at the next step…" : progressText(job);
  card.querySelector(".job-cancel").hidden = FINISHED.has(job.state);
  card.querySelector(".job-open").hidden = job.state !== "succeeded";
}

function updateEmpty() {
  $("#jobs-empty").hidden = cards.size > 0;
}

export async function cancel(id) {
  try {
    const job = await api.cancel(id);
    const known = jobs.get(id);
    remember({ ...job, assets: known ? known.assets : [] });
  } catch (err) {
    showError(err, `Cancel job ${short(id)}`);
  }
}

export function initJobs() {
  on("job", updateCard);
  on("deleted", (uploadId) => {
    for (const [id, job] of [...jobs]) if (job.upload_id === uploadId) markDeleted(id);
    if (state.reviewJob && !jobs.has(state.reviewJob)) emit("review", null);
  });
}
