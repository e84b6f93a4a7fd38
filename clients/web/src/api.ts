// The one way the client talks to the Huddle API: JSON in and out, every error turned into
// an ApiError. Signed-in requests are authenticated by the browser-session cookies the
// server sets (HttpOnly: this code never sees a token); every state-changing request
// carries the session's CSRF token, read from the `huddle_csrf` cookie. When the access
// cookie has expired the client refreshes once and retries; concurrent requests share one
// refresh (a refresh token works only once, and reuse ends the whole session).
//
// Screens call `api.request<T>(method, path, {body})` for any endpoint (see
// docs/web-client.md); small typed wrappers live next to the screens that use them.

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export type Role =
  | "pcp"
  | "care_manager"
  | "psychiatrist"
  | "bh_clinician"
  | "patient"
  | "compliance_officer"
  | "admin";

export interface User {
  id: string;
  email: string;
  display_name: string;
  role: Role;
  is_active: boolean;
  mfa_enabled: boolean;
}

export interface Organization {
  id: string;
  name: string;
  idle_timeout_minutes: number;
  mfa_required: boolean;
}

export interface Me {
  user: User;
  organization: Organization;
  mfa_enrolment_required: boolean;
}

export interface MfaEnrolment {
  secret: string;
  otpauth_uri: string;
}

export type LoginResult = { kind: "signed_in" } | { kind: "mfa_required"; mfaToken: string };

/** Error codes that mean the session is over and the person must sign in again. */
export const SESSION_ENDED_CODES: ReadonlySet<string> = new Set([
  "session_idle",
  "session_revoked",
  "session_expired",
  "refresh_token_reused",
  "token_expired",
  "invalid_token",
  "missing_token",
]);

export const CSRF_COOKIE = "huddle_csrf";
export const PASSIVE_HEADER = "X-Huddle-Passive";
const BROWSER_AUTH = "/api/v1/auth/browser";
const SAFE_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS"]);

/** Any failed call: an error answer from the server, or no answer at all (status 0). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly requestId: string | null;
  /** Seconds to wait before trying again, from the Retry-After header (429 answers). */
  readonly retryAfter: number | null;

  constructor(
    status: number,
    code: string,
    detail: string,
    requestId: string | null = null,
    retryAfter: number | null = null,
  ) {
    super(detail);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.requestId = requestId;
    this.retryAfter = retryAfter;
  }

  /** True when the server says this session can no longer be used. */
  get endsSession(): boolean {
    return this.status === 401 && SESSION_ENDED_CODES.has(this.code);
  }
}

export interface ApiClientOptions {
  fetch: FetchLike;
  /** Prefix for every path; "" (same origin) in the browser. */
  baseUrl?: string;
  /** Called once when an authenticated call finds the session over. */
  onSessionEnded?: (error: ApiError) => void;
  /** Called after every authenticated call the server accepted, unless it was passive
   * (the others count as activity). */
  onActivity?: () => void;
  /** Reads a cookie the page may see (only `huddle_csrf`); tests replace it. */
  readCookie?: (name: string) => string | null;
  /** Clock for Retry-After dates; tests replace it. */
  now?: () => number;
}

export interface RequestOptions {
  /** A JSON body. */
  body?: unknown;
  /** A file sent as the raw body (attachments). */
  file?: Blob;
  /** Needs the signed-in session (refreshed once if its access cookie has expired). */
  auth?: boolean;
  /** Send this bearer token instead (a patient-link session): never refreshed or kept. */
  bearer?: string;
  /** The page sends this by itself (a refetch after a live event), not because the person
   * did something: marked `X-Huddle-Passive: 1`, so neither the server nor the idle clock
   * counts it as activity. */
  passive?: boolean;
}

const NETWORK_DETAIL = "Could not reach the server. Check your connection and try again.";

export class ApiClient {
  readonly #fetch: FetchLike;
  readonly #baseUrl: string;
  readonly #onSessionEnded: (error: ApiError) => void;
  readonly #onActivity: () => void;
  readonly #readCookie: (name: string) => string | null;
  readonly #now: () => number;
  #signedIn = false;
  /** Bumped on every sign-in and sign-out, so a late refresh cannot revive a session. */
  #generation = 0;
  #refreshing: Promise<void> | null = null;

  constructor(options: ApiClientOptions) {
    const fetch = options.fetch;
    // Called as a plain function: window.fetch refuses to run with another `this`.
    this.#fetch = (input, init) => fetch(input, init);
    this.#baseUrl = options.baseUrl ?? "";
    this.#onSessionEnded = options.onSessionEnded ?? (() => {});
    this.#onActivity = options.onActivity ?? (() => {});
    this.#readCookie = options.readCookie ?? readDocumentCookie;
    this.#now = options.now ?? Date.now;
  }

  get signedIn(): boolean {
    return this.#signedIn;
  }

  /** Stop treating this page as signed in (the cookies are expired by `logout`). */
  forgetSession(): void {
    this.#signedIn = false;
    this.#generation += 1;
    this.#refreshing = null;
  }

  /** After a reload: a CSRF cookie means the browser may still hold a session. */
  get mayHaveSession(): boolean {
    return this.#readCookie(CSRF_COOKIE) !== null;
  }

  /** Treat the page as signed in (the next authenticated call proves it or ends it). */
  assumeSession(): void {
    this.#signedIn = true;
  }

  async login(email: string, password: string): Promise<LoginResult> {
    const answer = await this.request<SessionAnswer | MfaChallengeAnswer>(
      "POST",
      `${BROWSER_AUTH}/login`,
      { body: { email, password } },
    );
    if ("mfa_required" in answer && answer.mfa_required) {
      return { kind: "mfa_required", mfaToken: answer.mfa_token };
    }
    this.#startSession();
    return { kind: "signed_in" };
  }

  async completeMfa(mfaToken: string, code: string): Promise<void> {
    await this.request<SessionAnswer>("POST", `${BROWSER_AUTH}/mfa`, {
      body: { mfa_token: mfaToken, code },
    });
    this.#startSession();
  }

  /** End the session on the server (which expires the cookies); forgotten here whatever
   * the answer. */
  async logout(): Promise<void> {
    try {
      await this.request<void>("POST", `${BROWSER_AUTH}/logout`, { auth: true });
    } finally {
      this.forgetSession();
    }
  }

  /** Trade the refresh cookie for new cookies; shared by concurrent callers. */
  refresh(): Promise<void> {
    if (this.#refreshing === null) {
      const generation = this.#generation;
      const refreshing = this.#send<SessionAnswer>("POST", `${BROWSER_AUTH}/refresh`, {}).then(
        () => {
          // A sign-out while the refresh was in flight wins: do not bring the session back.
          if (generation !== this.#generation) throw sessionGone();
        },
      );
      const settle = () => {
        if (this.#refreshing === refreshing) this.#refreshing = null;
      };
      refreshing.then(settle, settle);
      this.#refreshing = refreshing;
    }
    return this.#refreshing;
  }

  me(): Promise<Me> {
    return this.request<Me>("GET", "/api/v1/me", { auth: true });
  }

  beginMfaEnrolment(): Promise<MfaEnrolment> {
    return this.request<MfaEnrolment>("POST", "/api/v1/me/mfa/enrol", { auth: true });
  }

  async confirmMfaEnrolment(code: string): Promise<string[]> {
    const answer = await this.request<{ recovery_codes: string[] }>(
      "POST",
      "/api/v1/me/mfa/confirm",
      { auth: true, body: { code } },
    );
    return answer.recovery_codes;
  }

  /**
   * Send one request and decode its JSON answer (undefined for 204).
   * Throws ApiError for any non-2xx answer or when the server cannot be reached.
   * With `auth`, an expired access cookie is refreshed once and the request retried; an
   * answer that ends the session calls `onSessionEnded` once; an accepted answer calls
   * `onActivity` unless the request is `passive`.
   */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    if (!options.auth) {
      return this.#send<T>(method, path, options);
    }
    this.#requireSession();
    const generation = this.#generation;
    try {
      return this.#accepted(await this.#send<T>(method, path, options), options);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401 || error.code !== "token_expired") {
        throw this.#sessionCheck(error);
      }
    }
    // The access cookie expired: refresh once (shared) and retry once. A second
    // token_expired is not refreshed again; it ends the session.
    try {
      if (generation !== this.#generation) throw sessionGone();
      await this.refresh();
      this.#requireSession();
      return this.#accepted(await this.#send<T>(method, path, options), options);
    } catch (error) {
      throw this.#sessionCheck(error);
    }
  }

  #startSession(): void {
    this.#signedIn = true;
    this.#generation += 1;
    this.#onActivity();
  }

  #accepted<T>(answer: T, options: RequestOptions): T {
    if (!options.passive) this.#onActivity();
    return answer;
  }

  #requireSession(): void {
    if (!this.#signedIn) throw sessionGone();
  }

  /** An error that ends the session forgets it and tells the app, once. */
  #sessionCheck(error: unknown): unknown {
    if (error instanceof ApiError && error.endsSession && this.#signedIn) {
      this.forgetSession();
      this.#onSessionEnded(error);
    }
    return error;
  }

  async #send<T>(method: string, path: string, options: RequestOptions): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json" };
    let body: BodyInit | undefined;
    if (options.file !== undefined) {
      headers["Content-Type"] = "application/octet-stream";
      body = options.file;
    } else if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(options.body);
    }
    if (options.passive) headers[PASSIVE_HEADER] = "1";
    if (options.bearer !== undefined) {
      headers["Authorization"] = `Bearer ${options.bearer}`;
    } else if (!SAFE_METHODS.has(method)) {
      const csrf = this.#readCookie(CSRF_COOKIE);
      if (csrf !== null) headers["X-CSRF-Token"] = csrf;
    }
    let response: Response;
    try {
      response = await this.#fetch(this.#baseUrl + path, {
        method,
        headers,
        body,
        // Link sessions use their bearer token only; everything else the session cookies.
        credentials: options.bearer === undefined ? "same-origin" : "omit",
        cache: "no-store",
      });
    } catch {
      throw new ApiError(0, "network_error", NETWORK_DETAIL);
    }
    if (!response.ok) {
      throw await errorOf(response, this.#now());
    }
    if (response.status === 204) {
      return undefined as T;
    }
    try {
      return (await response.json()) as T;
    } catch {
      throw new ApiError(
        response.status,
        "invalid_response",
        "The server sent an answer this page cannot read.",
        response.headers.get("X-Request-ID"),
      );
    }
  }
}

interface SessionAnswer {
  csrf_token: string;
  expires_in: number;
}

interface MfaChallengeAnswer {
  mfa_required: true;
  mfa_token: string;
}

function sessionGone(): ApiError {
  return new ApiError(401, "missing_token", "Sign in first.");
}

function readDocumentCookie(name: string): string | null {
  if (typeof document === "undefined") return null;
  for (const part of document.cookie.split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name && value.length > 0) return decodeURIComponent(value.join("="));
  }
  return null;
}

/** Build an ApiError from an error answer, whether or not it has the documented shape. */
export async function errorOf(response: Response, now: number = Date.now()): Promise<ApiError> {
  const retryAfter = parseRetryAfter(response.headers.get("Retry-After"), now);
  let requestId = response.headers.get("X-Request-ID");
  let code = `http_${response.status}`;
  let detail = `The server answered with an error (${response.status}).`;
  try {
    const body: unknown = await response.json();
    const error = isRecord(body) && isRecord(body["error"]) ? body["error"] : null;
    if (error !== null) {
      if (typeof error["code"] === "string") code = error["code"];
      if (typeof error["detail"] === "string") detail = error["detail"];
      if (typeof error["request_id"] === "string") requestId = error["request_id"];
    }
  } catch {
    // Not JSON (a proxy's error page, say): keep the generic code and detail.
  }
  return new ApiError(response.status, code, detail, requestId, retryAfter);
}

/** Retry-After is either whole seconds or an HTTP date; returns seconds from now, or null. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | null {
  if (value === null || value.trim() === "") return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number.parseInt(text, 10);
  const at = Date.parse(text);
  if (Number.isNaN(at)) return null;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
