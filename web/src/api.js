// api.js — the Fleet API client. The token lives in this module's memory only (never in
// storage or a URL) and goes out as a Bearer header; an error answer becomes an ApiError with the
// API's status, message and backend.
let token = '';

export const setToken = (t) => { token = t || ''; };
export const hasToken = () => token !== '';

export class ApiError extends Error {
  constructor(status, message, backend) {
    super(message);
    this.status = status;
    this.backend = backend || null;
  }
}

export function authHeaders(extra) {
  const h = { Accept: 'application/json', ...(extra || {}) };
  if (token) h.Authorization = `Bearer ${token}`;
  return h;
}

// GET (or with opts.method/body) /api/v1<path>; the parsed JSON answer.
export async function api(path, opts = {}) {
  let res;
  try {
    res = await fetch(`/api/v1${path}`, {
      method: opts.method || 'GET',
      headers: authHeaders(opts.body ? { 'Content-Type': 'application/json' } : null),
      body: opts.body ? JSON.stringify(opts.body) : undefined,
      signal: opts.signal,
      cache: 'no-store',
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, `the server does not answer (${e.message})`);
  }
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (!res.ok) throw new ApiError(res.status, body?.message || `HTTP ${res.status}`, body?.backend);
  return body;
}

export const q = (params) =>
  Object.entries(params).filter(([, v]) => v != null && v !== '')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
