import { describe, expect, it, vi } from "vitest";

import { ApiClient, ApiError, type FetchLike, parseRetryAfter } from "./api";

interface Call {
  method: string;
  path: string;
  authorization: string | null;
  csrf: string | null;
  contentType: string | null;
  credentials: RequestCredentials | undefined;
  passive: string | null;
  body: unknown;
}

type Handler = (call: Call, index: number) => Response | Promise<Response>;

/** A fake fetch that records every call and answers with `handler`. */
function fakeFetch(handler: Handler): { fetch: FetchLike; calls: Call[] } {
  const calls: Call[] = [];
  const fetch: FetchLike = async (input, init = {}) => {
    const headers = new Headers(init.headers);
    const call: Call = {
      method: init.method ?? "GET",
      path: input,
      authorization: headers.get("Authorization"),
      csrf: headers.get("X-CSRF-Token"),
      contentType: headers.get("Content-Type"),
      credentials: init.credentials,
      passive: headers.get("X-Huddle-Passive"),
      body: typeof init.body === "string" ? JSON.parse(init.body) : init.body,
    };
    calls.push(call);
    return handler(call, calls.length - 1);
  };
  return { fetch, calls };
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

function error(status: number, code: string, detail = `detail for ${code}`, headers = {}) {
  return json(status, { error: { code, detail, request_id: `req-${code}` } }, headers);
}

/** A browser sign-in answer: the tokens went into cookies the page never sees. */
function session(n: number) {
  return json(200, { csrf_token: `csrf-${n}`, expires_in: 900 });
}

const ME = {
  user: { id: "u1", email: "pcp@example.org", display_name: "Dr. P", role: "pcp" },
  organization: { id: "o1", name: "Clinic", idle_timeout_minutes: 15, mfa_required: false },
  mfa_enrolment_required: false,
};

const readCookie = (name: string) => (name === "huddle_csrf" ? "csrf-cookie" : null);

/** A client already signed in, then answering with `handler`. */
async function signedInClient(handler: Handler) {
  const onSessionEnded = vi.fn();
  const onActivity = vi.fn();
  const fake = fakeFetch((call, index) => (index === 0 ? session(1) : handler(call, index)));
  const client = new ApiClient({ fetch: fake.fetch, onSessionEnded, onActivity, readCookie });
  await client.login("pcp@example.org", "secret");
  return { client, calls: fake.calls, onSessionEnded, onActivity };
}

async function caught(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (failure) {
    expect(failure).toBeInstanceOf(ApiError);
    return failure as ApiError;
  }
  throw new Error("expected the call to fail");
}

describe("error answers", () => {
  it("parses the documented error shape", async () => {
    const { fetch } = fakeFetch(() =>
      error(401, "invalid_credentials", "The e-mail or password is incorrect."),
    );
    const client = new ApiClient({ fetch });

    const failure = await caught(client.login("pcp@example.org", "wrong"));

    expect(failure.status).toBe(401);
    expect(failure.code).toBe("invalid_credentials");
    expect(failure.detail).toBe("The e-mail or password is incorrect.");
    expect(failure.message).toBe("The e-mail or password is incorrect.");
    expect(failure.requestId).toBe("req-invalid_credentials");
    expect(failure.retryAfter).toBeNull();
    expect(client.signedIn).toBe(false);
  });

  it("reads Retry-After seconds on 429", async () => {
    const { fetch } = fakeFetch(() =>
      error(429, "account_locked", "This account is locked.", { "Retry-After": "900" }),
    );
    const failure = await caught(new ApiClient({ fetch }).login("a@b.org", "x"));

    expect(failure.status).toBe(429);
    expect(failure.code).toBe("account_locked");
    expect(failure.retryAfter).toBe(900);
  });

  it("reads Retry-After given as an HTTP date", () => {
    const now = Date.parse("2026-01-01T12:00:00Z");
    expect(parseRetryAfter("Thu, 01 Jan 2026 12:02:00 GMT", now)).toBe(120);
    expect(parseRetryAfter("Thu, 01 Jan 2026 11:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeNull();
    expect(parseRetryAfter(null, now)).toBeNull();
  });

  it("copes with an error answer that is not JSON", async () => {
    const { fetch } = fakeFetch(
      () =>
        new Response("<html>Bad gateway</html>", {
          status: 502,
          headers: { "Content-Type": "text/html", "X-Request-ID": "proxy-1" },
        }),
    );
    const failure = await caught(new ApiClient({ fetch }).login("a@b.org", "x"));

    expect(failure.status).toBe(502);
    expect(failure.code).toBe("http_502");
    expect(failure.detail).toContain("502");
    expect(failure.requestId).toBe("proxy-1");
  });

  it("turns an unreachable server into a network_error with status 0", async () => {
    const fetch: FetchLike = () => Promise.reject(new TypeError("Failed to fetch"));
    const failure = await caught(new ApiClient({ fetch }).login("a@b.org", "x"));

    expect(failure.status).toBe(0);
    expect(failure.code).toBe("network_error");
    expect(failure.detail).toMatch(/could not reach the server/i);
  });
});

describe("signing in", () => {
  it("posts JSON credentials to the browser sign-in and then relies on its cookies", async () => {
    const { fetch, calls } = fakeFetch((_call, index) =>
      index === 0 ? session(1) : json(200, ME),
    );
    const client = new ApiClient({ fetch, readCookie });

    expect(await client.login("pcp@example.org", "pw")).toEqual({ kind: "signed_in" });
    const me = await client.me();

    expect(calls[0]).toMatchObject({
      method: "POST",
      path: "/api/v1/auth/browser/login",
      authorization: null,
      contentType: "application/json",
      credentials: "same-origin",
      body: { email: "pcp@example.org", password: "pw" },
    });
    expect(calls[1]).toMatchObject({
      method: "GET",
      path: "/api/v1/me",
      authorization: null,
      csrf: null, // a read needs no CSRF token
      credentials: "same-origin",
    });
    expect(me.user.display_name).toBe("Dr. P");
  });

  it("sends the CSRF cookie's value on every state-changing request", async () => {
    const { client, calls } = await signedInClient(() => json(200, { recovery_codes: [] }));

    await client.confirmMfaEnrolment("123456");
    await client.request("PATCH", "/api/v1/messages/m1", { auth: true, body: { body: "x" } });

    expect(calls[1]?.csrf).toBe("csrf-cookie");
    expect(calls[2]).toMatchObject({ method: "PATCH", csrf: "csrf-cookie" });
  });

  it("uploads a file as the raw body", async () => {
    const { client, calls } = await signedInClient(() => json(201, { id: "a1" }));
    const file = new Blob(["hello"], { type: "text/plain" });

    await client.request("POST", "/api/v1/conversations/c1/attachments?filename=a.txt", {
      auth: true,
      file,
    });

    expect(calls[1]).toMatchObject({ contentType: "application/octet-stream", body: file });
  });

  it("returns the MFA challenge without being signed in", async () => {
    const { fetch, calls } = fakeFetch((call) =>
      call.path === "/api/v1/auth/browser/login"
        ? json(200, { mfa_required: true, mfa_token: "challenge-1" })
        : session(2),
    );
    const client = new ApiClient({ fetch, readCookie });

    const result = await client.login("pcp@example.org", "pw");
    expect(result).toEqual({ kind: "mfa_required", mfaToken: "challenge-1" });
    expect(client.signedIn).toBe(false);

    await client.completeMfa("challenge-1", "123456");
    expect(calls[1]).toMatchObject({
      path: "/api/v1/auth/browser/mfa",
      body: { mfa_token: "challenge-1", code: "123456" },
    });
    expect(client.signedIn).toBe(true);
  });

  it("refuses an authenticated call before sign-in without calling the server", async () => {
    const { fetch, calls } = fakeFetch(() => json(200, ME));
    const failure = await caught(new ApiClient({ fetch }).me());

    expect(failure.code).toBe("missing_token");
    expect(calls).toHaveLength(0);
  });

  it("a failed sign-in is not a session ending", async () => {
    const onSessionEnded = vi.fn();
    const { fetch } = fakeFetch(() => error(401, "invalid_credentials"));
    await caught(new ApiClient({ fetch, onSessionEnded }).login("a@b.org", "x"));

    expect(onSessionEnded).not.toHaveBeenCalled();
  });

  it("counts every accepted authenticated call as activity", async () => {
    const { client, onActivity } = await signedInClient(() => json(200, ME));
    onActivity.mockClear();

    await client.me();

    expect(onActivity).toHaveBeenCalledTimes(1);
  });

  it("marks a passive call for the server and does not count it as activity", async () => {
    const { client, calls, onActivity } = await signedInClient(() => json(200, ME));
    onActivity.mockClear();

    await client.request("GET", "/api/v1/conversations", { auth: true, passive: true });
    expect(calls.at(-1)?.passive).toBe("1");
    expect(onActivity).not.toHaveBeenCalled();

    await client.request("GET", "/api/v1/conversations", { auth: true });
    expect(calls.at(-1)?.passive).toBeNull();
    expect(onActivity).toHaveBeenCalledTimes(1);
  });

  it("keeps a passive call passive when it is retried after a refresh", async () => {
    let expired = true;
    const { client, calls, onActivity } = await signedInClient((call) => {
      if (call.path === "/api/v1/auth/browser/refresh") {
        expired = false;
        return session(2);
      }
      return expired ? error(401, "token_expired") : json(200, ME);
    });
    onActivity.mockClear();

    await client.request("GET", "/api/v1/conversations", { auth: true, passive: true });

    expect(calls.map((c) => [c.path, c.passive]).slice(1)).toEqual([
      ["/api/v1/conversations", "1"],
      ["/api/v1/auth/browser/refresh", null],
      ["/api/v1/conversations", "1"],
    ]);
    expect(onActivity).not.toHaveBeenCalled();
  });
});

describe("an expired access cookie", () => {
  it("is refreshed once and the request retried", async () => {
    let expired = true;
    const { client, calls, onSessionEnded } = await signedInClient((call) => {
      if (call.path === "/api/v1/auth/browser/refresh") {
        expired = false;
        return session(2);
      }
      return expired ? error(401, "token_expired") : json(200, ME);
    });

    const me = await client.me();

    expect(me.user.id).toBe("u1");
    expect(calls.map((c) => c.path)).toEqual([
      "/api/v1/auth/browser/login",
      "/api/v1/me",
      "/api/v1/auth/browser/refresh",
      "/api/v1/me",
    ]);
    expect(calls[2]?.csrf).toBe("csrf-cookie");
    expect(onSessionEnded).not.toHaveBeenCalled();
  });

  it("is not refreshed a second time when the retry is refused too", async () => {
    const { client, calls, onSessionEnded } = await signedInClient((call) =>
      call.path === "/api/v1/auth/browser/refresh" ? session(2) : error(401, "token_expired"),
    );

    const failure = await caught(client.me());

    expect(failure.code).toBe("token_expired");
    expect(calls).toHaveLength(4);
    expect(onSessionEnded).toHaveBeenCalledTimes(1);
    expect(client.signedIn).toBe(false);
  });

  it("ends the session when the refresh itself is refused, without retrying", async () => {
    const { client, calls, onSessionEnded } = await signedInClient((call) =>
      call.path === "/api/v1/auth/browser/refresh"
        ? error(401, "refresh_token_reused")
        : error(401, "token_expired"),
    );

    const failure = await caught(client.me());

    expect(failure.code).toBe("refresh_token_reused");
    expect(calls).toHaveLength(3);
    expect(onSessionEnded).toHaveBeenCalledTimes(1);
  });

  it("is refreshed only once for requests that expire together", async () => {
    let expired = true;
    const { client, calls } = await signedInClient(async (call) => {
      if (call.path === "/api/v1/auth/browser/refresh") {
        await new Promise((resolve) => setTimeout(resolve, 5));
        expired = false;
        return session(2);
      }
      return expired ? error(401, "token_expired") : json(200, ME);
    });

    await Promise.all([client.me(), client.me(), client.me()]);

    const refreshes = calls.filter((c) => c.path === "/api/v1/auth/browser/refresh");
    expect(refreshes).toHaveLength(1);
  });

  it("does not bring a session back when sign-out happens during the refresh", async () => {
    let releaseRefresh: () => void = () => {};
    const refreshAnswered = new Promise<void>((resolve) => {
      releaseRefresh = resolve;
    });
    const { client, calls } = await signedInClient(async (call) => {
      if (call.path === "/api/v1/auth/browser/refresh") {
        await refreshAnswered;
        return session(2);
      }
      return error(401, "token_expired");
    });

    const pending = caught(client.me());
    await vi.waitFor(() => expect(calls).toHaveLength(3));
    client.forgetSession();
    releaseRefresh();
    const failure = await pending;

    expect(failure.code).toBe("missing_token");
    expect(client.signedIn).toBe(false);
  });
});

describe("a session the server has ended", () => {
  it.each(["session_idle", "session_revoked", "session_expired"])(
    "%s is forgotten and reported once, with no refresh",
    async (code) => {
      const { client, calls, onSessionEnded } = await signedInClient(() => error(401, code));

      const failure = await caught(client.me());

      expect(failure.code).toBe(code);
      expect(calls.map((c) => c.path)).not.toContain("/api/v1/auth/browser/refresh");
      expect(onSessionEnded).toHaveBeenCalledTimes(1);
      expect(onSessionEnded.mock.calls[0]?.[0]).toMatchObject({ status: 401, code });
      expect(client.signedIn).toBe(false);

      // Signed out, the next call fails here and the end is not reported again.
      await caught(client.me());
      expect(calls).toHaveLength(2);
      expect(onSessionEnded).toHaveBeenCalledTimes(1);
    },
  );

  it("other errors keep the session", async () => {
    const { client, onSessionEnded } = await signedInClient(() =>
      error(403, "mfa_enrolment_required"),
    );

    const failure = await caught(client.me());

    expect(failure.status).toBe(403);
    expect(onSessionEnded).not.toHaveBeenCalled();
    expect(client.signedIn).toBe(true);
  });
});

describe("signing out", () => {
  it("posts the browser sign-out with the CSRF token and forgets the session", async () => {
    const { client, calls } = await signedInClient(() => new Response(null, { status: 204 }));

    await expect(client.logout()).resolves.toBeUndefined();

    expect(calls[1]).toMatchObject({
      method: "POST",
      path: "/api/v1/auth/browser/logout",
      csrf: "csrf-cookie",
    });
    expect(client.signedIn).toBe(false);
  });

  it("forgets the session even when the server cannot be reached", async () => {
    const { client } = await signedInClient(() => Promise.reject(new TypeError("offline")));

    const failure = await caught(client.logout());

    expect(failure.code).toBe("network_error");
    expect(client.signedIn).toBe(false);
  });
});

describe("a patient-link session", () => {
  it("sends its bearer token and no cookies", async () => {
    const { fetch, calls } = fakeFetch(() => json(200, { messages: [], last_seq: 0 }));

    await new ApiClient({ fetch, readCookie }).request("POST", "/api/v1/patient-links/x", {
      bearer: "link-1",
      body: {},
    });

    expect(calls[0]).toMatchObject({
      authorization: "Bearer link-1",
      csrf: null,
      credentials: "omit",
    });
  });
});
