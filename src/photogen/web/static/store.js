// The page's shared state and a tiny event bus between the steps of the workflow.
//
// Events: "uploads" (the photo list changed), "select" (uploadId), "upload-ready" (upload),
// "crop" (uploadId), "ack" (uploadId), "job" (job), "review" (jobId), "deleted" (uploadId).

export const state = {
  uploads: new Map(), // id -> upload record (with its preflight report)
  selected: null, // id of the photo being worked on
  presets: [], // from GET /v1/presets
  acknowledged: new Set(), // upload ids whose blocking findings the user accepted
  reviewJob: null, // id of the job shown under Review
  defaults: {}, // GenerationIn defaults from /openapi.json
  models: [], // from GET /v1/models: each with the capabilities the controls follow
};

const handlers = new Map();

export function on(name, handler) {
  if (!handlers.has(name)) handlers.set(name, new Set());
  handlers.get(name).add(handler);
}

export function emit(name, detail) {
  for (const handler of handlers.get(name) || []) {
    try {
      handler(detail);
    } catch (err) {
      console.error(err); // one broken listener must not stop the others
    }
  }
}

export function selectedUpload() {
  return state.selected ? state.uploads.get(state.selected) || null : null;
}

/** Whether the selected photo can be generated from: uploaded, and blocking findings acknowledged. */
export function blockingUnacknowledged(upload) {
  return Boolean(upload && upload.preflight && upload.preflight.level === "block" && !state.acknowledged.has(upload.id));
}
