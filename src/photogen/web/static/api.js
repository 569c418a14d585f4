// @ts-check
// The /v1 REST API as the page uses it: the optional API key, errors as {code, message, hint},
// images and downloads fetched with the key (an <img src> cannot send one), and Server-Sent
// Events read from a fetch stream (EventSource cannot send one either).

const KEY_STORAGE = "photogen.apiKey";

export class ApiError extends Error {
  /** @param {number} status @param {string} code @param {string} message @param {string} [hint] */
  constructor(status, code, message, hint = "") {
    super(message);
    this.status = status;
    this.code = code;
    this.hint = hint;
  }
}

export function apiKey() {
  try {
    return localStorage.getItem(KEY_STORAGE) || "";
  } catch {
    return "";
  }
}

export function setApiKey(key) {
  if (key) localStorage.setItem(KEY_STORAGE, key);
  else localStorage.removeItem(KEY_STORAGE);
  forgetImages("");
}

/** @param {Record<string, string>} [headers] @returns {Record<string, string>} */
function withKey(headers = {}) {
  const key = apiKey();
  return key ? { ...headers, Authorization: `Bearer ${key}` } : { ...headers };
}

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const error = body && body.error;
  if (error) return new ApiError(response.status, error.code, error.message, error.hint);
  return new ApiError(response.status, "http_error", `the server answered ${response.status}`, "");
}

/**
 * @param {string} method @param {string} path
 * @param {{json?: any, body?: any, headers?: Record<string, string>, signal?: AbortSignal}} [options]
 * @returns {Promise<Response>}
 */
export async function request(method, path, { json, body, headers, signal } = {}) {
  /** @type {RequestInit & {headers: Record<string, string>}} */
  const init = { method, headers: withKey(headers), signal };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else if (body !== undefined) {
    init.body = body;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "network", "the server did not answer", "check that `photogen serve` is still running");
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

/** @param {string} path @returns {Promise<any>} */
const getJson = async (path) => (await request("GET", path)).json();
const enc = encodeURIComponent;

/** A random key for Idempotency-Key (works outside secure contexts, unlike randomUUID). */
export function newIdempotencyKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export const api = {
  health: () => getJson("/v1/health"),
  openapi: () => getJson("/openapi.json"),
  presets: () => getJson("/v1/presets"),
  models: () => getJson("/v1/models"),
  uploads: () => getJson("/v1/uploads?limit=200"),
  upload: (id) => getJson(`/v1/uploads/${enc(id)}`),
  async createUpload(file, use) {
    const form = new FormData();
    form.append("file", file, file.name || "pasted-image.png");
    return (await request("POST", `/v1/uploads?use=${enc(use)}`, { body: form })).json();
  },
  deleteUpload: async (id) => (await request("DELETE", `/v1/uploads/${enc(id)}`)).json(),
  crop: (id, preset) => getJson(`/v1/uploads/${enc(id)}/crop?preset=${enc(preset)}`),
  previewPath: (id, longSide) => `/v1/uploads/${enc(id)}/preview?long_side=${longSide}`,

  /** POST /v1/generations; a lost connection is retried with the same Idempotency-Key. */
  async generate(payload) {
    const key = newIdempotencyKey();
    for (let attempt = 0; ; attempt++) {
      try {
        const response = await request("POST", "/v1/generations", { json: payload, headers: { "Idempotency-Key": key } });
        return response.json();
      } catch (err) {
        if (!(err instanceof ApiError) || err.status !== 0 || attempt >= 2) throw err;
        await new Promise((resolve) => setTimeout(resolve, 500 * (attempt + 1)));
      }
    }
  },
  recipes: () => getJson("/v1/recipes"),
  jobs: (limit = 100) => getJson(`/v1/jobs?limit=${limit}`),
  job: (id) => getJson(`/v1/jobs/${enc(id)}`),
  cancel: async (id) => (await request("POST", `/v1/jobs/${enc(id)}/cancel`)).json(),
  asset: (id) => getJson(`/v1/assets/${enc(id)}`),
  lineage: (id) => getJson(`/v1/assets/${enc(id)}/lineage`),
  identities: () => getJson("/v1/identities"),
  identity: (id) => getJson(`/v1/identities/${enc(id)}`),
  createIdentity: async (payload) => (await request("POST", "/v1/identities", { json: payload })).json(),
  updateIdentity: async (id, payload) => (await request("PATCH", `/v1/identities/${enc(id)}`, { json: payload })).json(),
  deleteIdentity: async (id) => (await request("DELETE", `/v1/identities/${enc(id)}`)).json(),
  deleteAsset: async (id) => (await request("DELETE", `/v1/assets/${enc(id)}`)).json(),
  deleteJob: async (id) => (await request("DELETE", `/v1/jobs/${enc(id)}`)).json(),
  /** Change one thing: POST /v1/jobs/{id}/vary, for all images or one (its index). */
  vary: async (id, changes, index = null) => (await request("POST", `/v1/jobs/${enc(id)}/vary`,
    { json: index === null ? { changes } : { changes, index }, headers: { "Idempotency-Key": newIdempotencyKey() } })).json(),
  upscale: async (assetId, factor) => (await request("POST", `/v1/assets/${enc(assetId)}/upscale`,
    { json: { factor }, headers: { "Idempotency-Key": newIdempotencyKey() } })).json(),
  printAdvice: async (payload) => (await request("POST", "/v1/print-advice", { json: payload })).json(),
  /** An asset's PNG as a Blob. */
  assetBlob: async (asset) => (await request("GET", asset.url)).blob(),
};

// -- images and downloads, fetched with the key ------------------------------------------------

/** @type {Map<string, Promise<string>>} path -> object URL */
const images = new Map();

/** An object URL for an image path of the API; asset contents and previews never change, so they are kept. */
/** @param {string} path @returns {Promise<string>} */
export function imageUrl(path) {
  if (!images.has(path)) {
    const loading = request("GET", path)
      .then((response) => response.blob())
      .then((blob) => URL.createObjectURL(blob));
    loading.catch(() => images.delete(path));
    images.set(path, loading);
  }
  return /** @type {Promise<string>} */ (images.get(path));
}

/** Drop the kept images whose path contains `fragment` (all of them for ""). */
export function forgetImages(fragment) {
  for (const [path, loading] of images) {
    if (path.includes(fragment)) {
      images.delete(path);
      loading.then((url) => URL.revokeObjectURL(url), () => {});
    }
  }
}

/** Put an API image into an <img>, with the key; marks it data-loaded when shown. */
/** @param {HTMLImageElement} img @param {string} path */
export async function showImage(img, path) {
  img.dataset.src = path;
  const url = await imageUrl(path);
  if (img.dataset.src !== path) return;
  if (!img.complete || img.src !== url) {
    await new Promise((resolve) => {
      img.addEventListener("load", resolve, { once: true });
      img.addEventListener("error", resolve, { once: true });
      img.src = url;
    });
  }
  img.dataset.loaded = "true";
}

function filenameOf(response, fallback) {
  const header = response.headers.get("Content-Disposition") || "";
  const match = /filename="?([^";]+)"?/.exec(header);
  return match ? match[1] : fallback;
}

/** @param {Blob} blob @param {string} name */
export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Download an asset's PNG (its parameters are embedded in it) under the server's file name. */
export async function downloadAsset(asset) {
  const response = await request("GET", asset.url);
  saveBlob(await response.blob(), filenameOf(response, `${asset.id}.png`));
}

/** Download an asset's full record (request, strengths, model, source hash) as JSON. */
export async function downloadRecord(asset) {
  const detail = await api.asset(asset.id);
  const blob = new Blob([JSON.stringify(detail, null, 2)], { type: "application/json" });
  saveBlob(blob, `${(asset.job_id || asset.id).slice(0, 8)}_${asset.kind}_${String(asset.index).padStart(2, "0")}.json`);
}

// -- Server-Sent Events --------------------------------------------------------------------------

function parseEvent(block) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
  }
  if (!data.length) return null;
  try {
    return { name, data: JSON.parse(data.join("\n")) };
  } catch {
    return null;
  }
}

/** Read a job's event stream, calling onEvent({name, data}) for each; resolves when the stream ends. */
/** @param {string} jobId @param {(event: {name: string, data: any}) => void} onEvent @param {AbortSignal} [signal] */
export async function readEvents(jobId, onEvent, signal) {
  const response = await request("GET", `/v1/jobs/${enc(jobId)}/events`, { headers: { Accept: "text/event-stream" }, signal });
  const reader = /** @type {ReadableStream<any>} */ (response.body).pipeThrough(/** @type {any} */ (new TextDecoderStream())).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = parseEvent(buffer.slice(0, cut));
      buffer = buffer.slice(cut + 2);
      if (event) onEvent(event);
    }
  }
}
