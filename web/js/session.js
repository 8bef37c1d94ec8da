// The signed-in session and every call to the API. The tokens are kept in
// localStorage so a reload stays signed in; the access token is renewed
// before it expires, and once more when the API answers 401. Tabs share the
// stored tokens: a tab that finds a newer pair stored takes it instead of
// spending its own refresh token again, which the API would treat as theft.

import { sleep } from './dom.js';

const STORAGE_KEY = 'messaging.session';
/** Renew this long before the access token expires (at most a fifth of its life). */
const RENEW_AHEAD_MS = 60_000;

export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super(body?.error ?? `The server answered ${status}.`);
    this.status = status;
    this.fields = body?.fields ?? {};
    this.retryAfter = retryAfter;
  }
}

export class Session {
  #apiUrl;
  #state;
  #renewal = null;
  #timer = null;
  #onSignedOut;

  constructor(apiUrl, onSignedOut) {
    this.#apiUrl = apiUrl.replace(/\/$/, '');
    this.#onSignedOut = onSignedOut;
    this.#state = stored();
    window.addEventListener('storage', (event) => {
      if (event.key !== STORAGE_KEY) return;
      const next = stored();
      if (!next && this.#state) {
        this.#state = null;
        this.#onSignedOut();
      } else if (next) {
        this.#state = next;
        this.#schedule();
      }
    });
    if (this.#state) this.#schedule();
  }

  get user() {
    return this.#state?.user ?? null;
  }

  get signedIn() {
    return this.#state != null;
  }

  async register(fields) {
    return this.request('POST', '/api/auth/register', fields, { anonymous: true });
  }

  async login(email, password) {
    const tokens = await this.request('POST', '/api/auth/login', { email, password }, { anonymous: true });
    this.#adopt(tokens);
  }

  async logout() {
    const refreshToken = this.#state?.refresh_token;
    this.#forget();
    if (refreshToken) {
      await this.request('POST', '/api/auth/logout', { refresh_token: refreshToken }, { anonymous: true })
        .catch(() => {});
    }
  }

  /** One call to the API; JSON in and out, an ApiError for any refusal. */
  async request(method, path, body, { anonymous = false, retried = false } = {}) {
    const headers = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (!anonymous) {
      if (!this.#state) throw new ApiError(401, { error: 'Not signed in.' });
      if (Date.now() > this.#state.expires_at - 5_000) await this.renew();
      headers.Authorization = `Bearer ${this.#state.access_token}`;
    }
    const response = await fetch(this.#apiUrl + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 401 && !anonymous && !retried && this.#state) {
      await this.renew();
      return this.request(method, path, body, { retried: true });
    }
    if (response.status === 204) return null;
    const data = await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, data, Number(response.headers.get('Retry-After')) || null);
    return data;
  }

  /** New tokens for the stored refresh token; one renewal at a time. */
  async renew() {
    this.#renewal ??= this.#renewOnce().finally(() => {
      this.#renewal = null;
    });
    return this.#renewal;
  }

  async #renewOnce() {
    const mine = this.#state;
    const latest = stored();
    if (latest && mine && latest.refresh_token !== mine.refresh_token && latest.expires_at > Date.now() + 10_000) {
      this.#state = latest;
      this.#schedule();
      return;
    }
    if (!mine) throw new ApiError(401, { error: 'Not signed in.' });
    try {
      const tokens = await this.request('POST', '/api/auth/refresh', { refresh_token: mine.refresh_token }, { anonymous: true });
      this.#adopt(tokens);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401) throw error;
      // Another tab may have renewed the same token a moment ago.
      await sleep(500);
      const other = stored();
      if (other && other.refresh_token !== mine.refresh_token) {
        this.#state = other;
        this.#schedule();
        return;
      }
      this.#forget();
      throw error;
    }
  }

  #adopt(tokens) {
    this.#state = {
      access_token: tokens.access_token,
      refresh_token: tokens.refresh_token,
      expires_at: Date.now() + tokens.expires_in * 1000,
      lifetime_ms: tokens.expires_in * 1000,
      user: tokens.user,
    };
    localStorage.setItem(STORAGE_KEY, JSON.stringify(this.#state));
    this.#schedule();
  }

  #schedule() {
    clearTimeout(this.#timer);
    if (!this.#state) return;
    const ahead = Math.min(RENEW_AHEAD_MS, this.#state.lifetime_ms / 5);
    const delay = Math.max(1_000, this.#state.expires_at - ahead - Date.now());
    this.#timer = setTimeout(() => this.renew().catch(() => {}), delay);
  }

  #forget() {
    clearTimeout(this.#timer);
    const wasSignedIn = this.#state != null;
    this.#state = null;
    localStorage.removeItem(STORAGE_KEY);
    if (wasSignedIn) this.#onSignedOut();
  }
}

function stored() {
  try {
    return JSON.parse(localStorage.getItem(STORAGE_KEY));
  } catch {
    return null;
  }
}
