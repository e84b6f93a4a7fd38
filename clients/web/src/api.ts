// The one way the client talks to the Huddle API: JSON in and out, every error turned into
// an ApiError, bearer tokens held in memory only, and one refresh-then-retry when an access
// token has expired. A refresh token works only once (reuse ends the whole session), so
// concurrent requests share a single refresh.

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface Tokens {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
}

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
  /** Called once when an authenticated call finds the session over; tokens are already gone. */
  onSessionEnded?: (error: ApiError) => void;
  /** Clock for Retry-After dates; tests replace it. */
  now?: () => number;
}

interface RequestOptions {
  body?: unknown;
  /** Send the access token (and refresh it once if it has expired). */
  auth?: boolean;
  /** Send this bearer token instead (a patient-link session): never refreshed or kept. */
  bearer?: string;
}

const NETWORK_DETAIL = "Could not reach the server. Check your connection and try again.";

export class ApiClient {
  readonly #fetch: FetchLike;
  readonly #baseUrl: string;
  readonly #onSessionEnded: (error: ApiError) => void;
  readonly #now: () => number;
  #tokens: Tokens | null = null;
  #refreshing: Promise<void> | null = null;

  constructor(options: ApiClientOptions) {
    const fetch = options.fetch;
    // Called as a plain function: window.fetch refuses to run with another `this`.
    this.#fetch = (input, init) => fetch(input, init);
    this.#baseUrl = options.baseUrl ?? "";
    this.#onSessionEnded = options.onSessionEnded ?? (() => {});
    this.#now = options.now ?? Date.now;
  }

  get signedIn(): boolean {
    return this.#tokens !== null;
  }

  /** Forget the tokens (they live nowhere else). */
  clearTokens(): void {
    this.#tokens = null;
    this.#refreshing = null;
  }

  async login(email: string, password: string): Promise<LoginResult> {
    const answer = await this.request<TokenAnswer | MfaChallengeAnswer>(
      "POST",
      "/api/v1/auth/login",
      { body: { email, password } },
    );
    if ("mfa_required" in answer && answer.mfa_required) {
      return { kind: "mfa_required", mfaToken: answer.mfa_token };
    }
    this.#tokens = tokensOf(answer as TokenAnswer);
    return { kind: "signed_in" };
  }

  async completeMfa(mfaToken: string, code: string): Promise<void> {
    const answer = await this.request<TokenAnswer>("POST", "/api/v1/auth/mfa", {
      body: { mfa_token: mfaToken, code },
    });
    this.#tokens = tokensOf(answer);
  }

  /** End the session on the server; the tokens are forgotten whatever the answer. */
  async logout(): Promise<void> {
    try {
      await this.request<void>("POST", "/api/v1/auth/logout", { auth: true });
    } finally {
      this.clearTokens();
    }
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
   */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    if (!options.auth) {
      return this.#send<T>(method, path, options.body, options.bearer ?? null);
    }
    const tokens = this.#requireTokens();
    try {
      return await this.#send<T>(method, path, options.body, tokens.accessToken);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401 || error.code !== "token_expired") {
        throw this.#sessionCheck(error);
      }
    }
    // The access token expired: refresh once (unless another request already did) and retry
    // once. A second token_expired is not refreshed again; it ends the session.
    try {
      if (this.#tokens?.accessToken === tokens.accessToken) {
        await this.#refresh();
      }
      return await this.#send<T>(method, path, options.body, this.#requireTokens().accessToken);
    } catch (error) {
      throw this.#sessionCheck(error);
    }
  }

  #requireTokens(): Tokens {
    if (this.#tokens === null) {
      throw new ApiError(401, "missing_token", "Sign in first.");
    }
    return this.#tokens;
  }

  #refresh(): Promise<void> {
    if (this.#refreshing === null) {
      const body = { refresh_token: this.#requireTokens().refreshToken };
      const refreshing = this.#send<TokenAnswer>("POST", "/api/v1/auth/refresh", body, null).then(
        (answer) => {
          // A sign-out while the refresh was in flight wins: do not bring the session back.
          if (this.#refreshing === refreshing) this.#tokens = tokensOf(answer);
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

  /** An error that ends the session clears the tokens and tells the app, once. */
  #sessionCheck(error: unknown): unknown {
    if (error instanceof ApiError && error.endsSession && this.#tokens !== null) {
      this.clearTokens();
      this.#onSessionEnded(error);
    }
    return error;
  }

  async #send<T>(
    method: string,
    path: string,
    body: unknown,
    accessToken: string | null,
  ): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (accessToken !== null) headers["Authorization"] = `Bearer ${accessToken}`;
    let response: Response;
    try {
      response = await this.#fetch(this.#baseUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit",
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

interface TokenAnswer {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  token_type: string;
}

interface MfaChallengeAnswer {
  mfa_required: true;
  mfa_token: string;
}

function tokensOf(answer: TokenAnswer): Tokens {
  return {
    accessToken: answer.access_token,
    refreshToken: answer.refresh_token,
    expiresIn: answer.expires_in,
  };
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
