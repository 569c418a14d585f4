// @ts-check
// Opening a past job where the work happens: its photo picked, its crop and its values in the form,
// its results under Review, and the results brought into view (with the focus on them).

import { adoptJobCrop } from "./crop.js";
import { fillFromJob } from "./generate.js";
import { remember } from "./jobs.js";
import { emit, state } from "./store.js";
import { select } from "./upload.js";

/** @param {any} job */
export function openJob(job) {
  remember(job);
  emit("view", "create");
  if (state.uploads.has(job.upload_id)) select(job.upload_id);
  adoptJobCrop(job);
  if (job.kind === "generate") fillFromJob(job);
  emit("review", job.id);
  emit("show-review");
}
