// The REST API with the cookie session: the CSRF token on every change, errors as ApiError.
import { locale } from "./i18n.js";

export class ApiError extends Error {
  constructor(status, body) {
    super(body.error_localized || body.error || `HTTP ${status}`);
    this.status = status;
    this.code = body.error_code || "INTERNAL_ERROR";
  }
}

let csrfToken = null;
export const setCsrf = (token) => { csrfToken = token; };
// Told when the sign-in ended (expired, revoked, desktop-only): the page goes back to sign in.
export const sessionEnded = new Set();
const ENDED = new Set(["AUTH_REQUIRED", "AUTH_TOKEN_INVALID_OR_EXPIRED", "BROWSER_ACCESS_DISABLED"]);

function headers(method, json) {
  const h = { "X-App-Language": locale };
  if (json) h["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken) h["X-CSRFToken"] = csrfToken;
  return h;
}

export async function call(method, path, body, { quiet = false } = {}) {
  const response = await fetch(path, {
    method, credentials: "same-origin", headers: headers(method, body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new ApiError(response.status, answer);
    if (!quiet && ENDED.has(error.code)) for (const listener of sessionEnded) listener(error);
    throw error;
  }
  return answer;
}

export const get = (path, options) => call("GET", path, undefined, options);
export const post = (path, body = {}) => call("POST", path, body);
export const put = (path, body = {}) => call("PUT", path, body);

// A multipart upload with progress (fetch cannot report upload progress).
export function upload(form, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", "/api/upload");
    for (const [name, value] of Object.entries(headers("POST", false))) request.setRequestHeader(name, value);
    request.upload.onprogress = (event) => onProgress(event.loaded, event.total);
    request.onload = () => {
      let answer = {};
      try { answer = JSON.parse(request.responseText); } catch { /* not JSON */ }
      if (request.status >= 200 && request.status < 300) resolve(answer);
      else reject(new ApiError(request.status, answer));
    };
    request.onerror = () => reject(new ApiError(0, { error_code: "SERVER_UNREACHABLE" }));
    request.send(form);
  });
}

export async function download(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => ({})));
  return new Uint8Array(await response.arrayBuffer());
}
