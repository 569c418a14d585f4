// @ts-check
// The page's shared state, a tiny event bus between the steps of the workflow, and what survives a reload:
// the photo and job under work in the URL (?photo=…&job=…), the form and small choices in local storage.
//
// Events: "uploads" (the photo list changed), "select" (uploadId), "upload-ready" (upload),
// "crop" (uploadId), "ack" (uploadId), "job" (job), "review" (jobId), "deleted" (uploadId),
// "view" (name), "step" (name: photos, crop, generate or review), "stars" (assetId).

/**
 * @typedef {{id: string, sha256: string, filename: string, format: string, width: number, height: number,
 *   size_bytes: number, preflight: any, created_at: string}} Upload
 * @typedef {{id: string, kind: string, index: number, seed: number | null, width: number, height: number,
 *   url: string, job_id?: string | null, upload_id?: string, scores?: any, parent_asset_id?: string | null}} Asset
 * @typedef {{id: string, kind: string, state: string, upload_id: string, request: any, progress: any,
 *   assets: Asset[], error?: any, created_at: string, parent_id?: string | null, relation?: string | null,
 *   cancel_requested?: boolean, started_at?: string | null, finished_at?: string | null}} Job
 */

export const state = {
  /** @type {Map<string, Upload>} id -> upload record (with its preflight report) */
  uploads: new Map(),
  /** @type {string | null} id of the photo being worked on */
  selected: null,
  /** @type {any[]} from GET /v1/presets */
  presets: [],
  /** @type {Set<string>} upload ids whose blocking findings the user accepted */
  acknowledged: new Set(),
  /** @type {string | null} id of the job shown under Review */
  reviewJob: null,
  /** @type {any} GenerationIn defaults from /openapi.json */
  defaults: {},
  /** @type {any[]} from GET /v1/models: each with the capabilities the controls follow */
  models: [],
};

/** @type {Map<string, Set<(detail: any) => void>>} */
const handlers = new Map();

/** @param {string} name @param {(detail: any) => void} handler */
export function on(name, handler) {
  if (!handlers.has(name)) handlers.set(name, new Set());
  /** @type {Set<(detail: any) => void>} */ (handlers.get(name)).add(handler);
}

/** @param {string} name @param {any} [detail] */
export function emit(name, detail) {
  for (const handler of handlers.get(name) || []) {
    try {
      handler(detail);
    } catch (err) {
      console.error(err); // one broken listener must not stop the others
    }
  }
}

/** @returns {Upload | null} */
export function selectedUpload() {
  return state.selected ? state.uploads.get(state.selected) || null : null;
}

/** Whether the selected photo can be generated from: uploaded, and blocking findings acknowledged.
 * @param {Upload | null} upload */
export function blockingUnacknowledged(upload) {
  return Boolean(upload && upload.preflight && upload.preflight.level === "block" && !state.acknowledged.has(upload.id));
}

// -- what survives a reload ------------------------------------------------------------------------

/** A value kept in local storage as JSON; `fallback` when missing, unreadable or storage is off.
 * @template T @param {string} key @param {T} fallback @returns {T} */
export function kept(key, fallback) {
  try {
    const raw = localStorage.getItem(`photogen.${key}`);
    return raw === null ? fallback : JSON.parse(raw);
  } catch {
    return fallback;
  }
}

/** @param {string} key @param {any} value (null or undefined removes it) */
export function keep(key, value) {
  try {
    if (value === null || value === undefined) localStorage.removeItem(`photogen.${key}`);
    else localStorage.setItem(`photogen.${key}`, JSON.stringify(value));
  } catch {
    // storage full or disabled: the page still works, it just forgets on reload
  }
}

/** The photo and job in the page's address. @returns {{photo: string | null, job: string | null}} */
export function fromUrl() {
  const params = new URLSearchParams(location.search);
  const clean = (/** @type {string | null} */ v) => (v && /^[0-9a-f]{8,64}$/i.test(v) ? v : null);
  return { photo: clean(params.get("photo")), job: clean(params.get("job")) };
}

/** Write the photo and job under work into the address (replaced, so Back still leaves the page). */
export function writeUrl() {
  const params = new URLSearchParams(location.search);
  if (state.selected) params.set("photo", state.selected);
  else params.delete("photo");
  if (state.reviewJob) params.set("job", state.reviewJob);
  else params.delete("job");
  const query = params.toString();
  const url = `${location.pathname}${query ? `?${query}` : ""}${location.hash}`;
  if (url !== `${location.pathname}${location.search}${location.hash}`) history.replaceState(null, "", url);
}

/** Starred outputs (kept in this browser). */
export const stars = {
  /** @returns {Set<string>} */
  all: () => new Set(kept("stars", /** @type {string[]} */ ([]))),
  /** @param {string} id */
  has: (id) => stars.all().has(id),
  /** @param {string} id @returns {boolean} whether it is starred now */
  toggle(id) {
    const all = stars.all();
    if (all.has(id)) all.delete(id);
    else all.add(id);
    keep("stars", [...all]);
    emit("stars", id);
    return all.has(id);
  },
};
