// A small client for the Bookstore API: JSON in and out, bearer tokens, one refresh on an
// expired access token, and every response's headers reported to a listener (status bar).

const TOKENS_KEY = "bookstore.tokens";

/** The API answered with an error envelope: {"error": {status, code, message, details}}. */
export class ApiError extends Error {
  constructor(info, payload) {
    const error = payload?.error ?? {};
    super(error.message || `HTTP ${info.status}`);
    this.name = "ApiError";
    this.info = info;
    this.status = info.status;
    this.code = error.code || "UNEXPECTED_RESPONSE";
    this.details = Array.isArray(error.details) ? error.details : [];
    this.requestId = error.request_id || info.requestId;
  }
}

/** No readable response: the server is down, or the browser refused it (CORS). */
export class NetworkError extends Error {
  constructor(method, url, cause) {
    super(`${method} ${url} failed: ${cause?.message || cause}`);
    this.name = "NetworkError";
    this.url = url;
  }
}

export class Api {
  constructor(base, { onExchange = () => {}, storage = window.sessionStorage } = {}) {
    this.base = base.replace(/\/+$/, "");
    this.onExchange = onExchange;
    this.storage = storage;
    this.refreshing = null;
    try {
      this.tokens = JSON.parse(storage.getItem(TOKENS_KEY) || "null");
    } catch {
      this.tokens = null;
    }
  }

  get signedIn() {
    return Boolean(this.tokens?.access_token);
  }

  setTokens(tokens) {
    this.tokens = tokens;
    if (tokens) this.storage.setItem(TOKENS_KEY, JSON.stringify(tokens));
    else this.storage.removeItem(TOKENS_KEY);
  }

  url(path) {
    // Paths and links from the API are absolute paths ("/v1/books?page=2").
    return /^https?:\/\//.test(path) ? path : this.base + path;
  }

  /**
   * Send one request. Resolves to {status, requestId, etag, location, replayed, body} for
   * 2xx and 304; rejects with ApiError (an error envelope) or NetworkError.
   */
  async request(method, path, { body, headers = {}, auth = false, cache, retried = false } = {}) {
    const url = this.url(path);
    // Accept is a CORS-safelisted header: an anonymous GET stays a "simple" request.
    // cache: "no-cache" revalidates a cached catalog page (public, max-age) with the server.
    const init = { method, cache, headers: { Accept: "application/json", ...headers } };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    if (auth && this.tokens) init.headers.Authorization = `Bearer ${this.tokens.access_token}`;

    let response;
    try {
      response = await fetch(url, init);
    } catch (cause) {
      const error = new NetworkError(method, url, cause);
      this.onExchange({ method, path, error });
      throw error;
    }
    const info = {
      method,
      path,
      status: response.status,
      requestId: response.headers.get("X-Request-ID"),
      etag: response.headers.get("ETag"),
      location: response.headers.get("Location"),
      replayed: response.headers.get("Idempotent-Replayed") === "true",
      retryAfter: response.headers.get("Retry-After"),
    };
    const payload = await readJson(response);
    this.onExchange(info);

    const expired = response.status === 401 && payload?.error?.code === "TOKEN_EXPIRED";
    if (expired && auth && !retried && this.tokens?.refresh_token) {
      await this.refresh();
      return this.request(method, path, { body, headers, auth, cache, retried: true });
    }
    if (!response.ok && response.status !== 304) throw new ApiError(info, payload);
    return { ...info, body: payload };
  }

  get(path, options) {
    return this.request("GET", path, options);
  }

  post(path, body, options = {}) {
    return this.request("POST", path, { ...options, body });
  }

  async login(email, password) {
    const result = await this.post("/v1/auth/login", { email, password });
    this.setTokens(result.body.data);
    return result;
  }

  register(email, password, name) {
    return this.post("/v1/auth/register", { email, password, ...(name ? { name } : {}) });
  }

  /** Rotate the refresh token; concurrent callers share one rotation (tokens are single use). */
  refresh() {
    if (!this.refreshing) {
      const token = this.tokens.refresh_token;
      this.refreshing = this.post("/v1/auth/refresh", { refresh_token: token })
        .then((result) => this.setTokens(result.body.data))
        .catch((error) => {
          this.setTokens(null);
          throw error;
        })
        .finally(() => {
          this.refreshing = null;
        });
    }
    return this.refreshing;
  }

  async logout() {
    try {
      if (this.tokens) {
        await this.post("/v1/auth/logout", { refresh_token: this.tokens.refresh_token }, {
          auth: true,
          retried: true,
        });
      }
    } finally {
      this.setTokens(null);
    }
  }
}

async function readJson(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { error: { message: `Not JSON: ${text.slice(0, 120)}` } };
  }
}

/** A v4 UUID: crypto.randomUUID() where available (secure contexts: https, localhost). */
export function newIdempotencyKey() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
