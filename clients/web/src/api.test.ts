import { describe, expect, it, vi } from "vitest";

import { ApiClient, ApiError, type FetchLike, parseRetryAfter } from "./api";

interface Call {
  method: string;
  path: string;
  authorization: string | null;
  contentType: string | null;
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
      contentType: headers.get("Content-Type"),
      body: typeof init.body === "string" ? JSON.parse(init.body) : undefined,
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

function tokens(n: number) {
  return json(200, {
    access_token: `access-${n}`,
    refresh_token: `refresh-${n}`,
    expires_in: 900,
    token_type: "Bearer",
  });
}

const ME = {
  user: { id: "u1", email: "pcp@example.org", display_name: "Dr. P", role: "pcp" },
  organization: { id: "o1", name: "Clinic", idle_timeout_minutes: 15, mfa_required: false },
  mfa_enrolment_required: false,
};

/** A client already signed in with access-1 / refresh-1, then answering with `handler`. */
async function signedInClient(handler: Handler) {
  const onSessionEnded = vi.fn();
  const fake = fakeFetch((call, index) => (index === 0 ? tokens(1) : handler(call, index)));
  const client = new ApiClient({ fetch: fake.fetch, onSessionEnded });
  await client.login("pcp@example.org", "secret");
  return { client, calls: fake.calls, onSessionEnded };
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
  it("posts JSON credentials and then sends the access token as a bearer token", async () => {
    const { fetch, calls } = fakeFetch((_call, index) => (index === 0 ? tokens(1) : json(200, ME)));
    const client = new ApiClient({ fetch });

    expect(await client.login("pcp@example.org", "pw")).toEqual({ kind: "signed_in" });
    const me = await client.me();

    expect(calls[0]).toMatchObject({
      method: "POST",
      path: "/api/v1/auth/login",
      authorization: null,
      contentType: "application/json",
      body: { email: "pcp@example.org", password: "pw" },
    });
    expect(calls[1]).toMatchObject({
      method: "GET",
      path: "/api/v1/me",
      authorization: "Bearer access-1",
    });
    expect(me.user.display_name).toBe("Dr. P");
  });

  it("returns the MFA challenge without holding any token", async () => {
    const { fetch, calls } = fakeFetch((call) =>
      call.path === "/api/v1/auth/login"
        ? json(200, { mfa_required: true, mfa_token: "challenge-1" })
        : tokens(2),
    );
    const client = new ApiClient({ fetch });

    const result = await client.login("pcp@example.org", "pw");
    expect(result).toEqual({ kind: "mfa_required", mfaToken: "challenge-1" });
    expect(client.signedIn).toBe(false);

    await client.completeMfa("challenge-1", "123456");
    expect(calls[1]?.body).toEqual({ mfa_token: "challenge-1", code: "123456" });
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
});

describe("an expired access token", () => {
  it("is refreshed once and the request retried with the new token", async () => {
    const { client, calls, onSessionEnded } = await signedInClient((call) => {
      if (call.path === "/api/v1/auth/refresh") return tokens(2);
      return call.authorization === "Bearer access-2" ? json(200, ME) : error(401, "token_expired");
    });

    const me = await client.me();

    expect(me.organization.name).toBe("Clinic");
    expect(calls.slice(1).map((c) => [c.path, c.authorization])).toEqual([
      ["/api/v1/me", "Bearer access-1"],
      ["/api/v1/auth/refresh", null],
      ["/api/v1/me", "Bearer access-2"],
    ]);
    expect(calls[2]?.body).toEqual({ refresh_token: "refresh-1" });
    expect(onSessionEnded).not.toHaveBeenCalled();

    // The new pair is kept: the next call goes straight out with access-2.
    await client.me();
    expect(calls).toHaveLength(5);
    expect(calls[4]?.authorization).toBe("Bearer access-2");
  });

  it("is not refreshed a second time when the retry is refused too", async () => {
    const { client, calls, onSessionEnded } = await signedInClient((call) =>
      call.path === "/api/v1/auth/refresh" ? tokens(2) : error(401, "token_expired"),
    );

    const failure = await caught(client.me());

    expect(failure.code).toBe("token_expired");
    expect(calls.slice(1).map((c) => c.path)).toEqual([
      "/api/v1/me",
      "/api/v1/auth/refresh",
      "/api/v1/me",
    ]);
    expect(onSessionEnded).toHaveBeenCalledTimes(1);
    expect(client.signedIn).toBe(false);
  });

  it("ends the session when the refresh itself is refused, without retrying", async () => {
    const { client, calls, onSessionEnded } = await signedInClient((call) =>
      call.path === "/api/v1/auth/refresh"
        ? error(401, "refresh_token_reused")
        : error(401, "token_expired"),
    );

    const failure = await caught(client.me());

    expect(failure.code).toBe("refresh_token_reused");
    expect(calls).toHaveLength(3);
    expect(onSessionEnded).toHaveBeenCalledTimes(1);
    expect(onSessionEnded.mock.calls[0]?.[0]).toBe(failure);
    expect(client.signedIn).toBe(false);
  });

  it("is refreshed only once for requests that expire together", async () => {
    let releaseRefresh: () => void = () => {};
    const refreshAnswered = new Promise<void>((resolve) => {
      releaseRefresh = resolve;
    });
    const { client, calls } = await signedInClient(async (call) => {
      if (call.path === "/api/v1/auth/refresh") {
        await refreshAnswered;
        return tokens(2);
      }
      return call.authorization === "Bearer access-2" ? json(200, ME) : error(401, "token_expired");
    });

    const both = Promise.all([client.me(), client.me()]);
    // Let both first attempts fail before the refresh answers.
    const refreshes = () => calls.filter((c) => c.path === "/api/v1/auth/refresh");
    await vi.waitFor(() => expect(refreshes()).toHaveLength(1));
    releaseRefresh();
    const [first, second] = await both;

    expect(first.user.id).toBe("u1");
    expect(second.user.id).toBe("u1");
    expect(refreshes()).toHaveLength(1);
    expect(calls.filter((c) => c.authorization === "Bearer access-2")).toHaveLength(2);
  });

  it("does not bring a session back when sign-out happens during the refresh", async () => {
    let releaseRefresh: () => void = () => {};
    const refreshAnswered = new Promise<void>((resolve) => {
      releaseRefresh = resolve;
    });
    const { client, calls } = await signedInClient(async (call) => {
      if (call.path === "/api/v1/auth/refresh") {
        await refreshAnswered;
        return tokens(2);
      }
      return error(401, "token_expired");
    });

    const pending = caught(client.me());
    await vi.waitFor(() => expect(calls).toHaveLength(3));
    client.clearTokens();
    releaseRefresh();
    const failure = await pending;

    expect(failure.code).toBe("missing_token");
    expect(client.signedIn).toBe(false);
  });
});

describe("a session the server has ended", () => {
  it.each(["session_idle", "session_revoked", "session_expired"])(
    "%s clears the tokens and is reported once, with no refresh",
    async (code) => {
      const { client, calls, onSessionEnded } = await signedInClient(() => error(401, code));

      const failure = await caught(client.me());

      expect(failure.code).toBe(code);
      expect(calls.map((c) => c.path)).not.toContain("/api/v1/auth/refresh");
      expect(onSessionEnded).toHaveBeenCalledTimes(1);
      expect(onSessionEnded.mock.calls[0]?.[0]).toMatchObject({ status: 401, code });
      expect(client.signedIn).toBe(false);

      // Without tokens, the next call fails here and the end is not reported again.
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
  it("posts logout with the token, accepts 204 and forgets the tokens", async () => {
    const { client, calls } = await signedInClient(() => new Response(null, { status: 204 }));

    await expect(client.logout()).resolves.toBeUndefined();

    expect(calls[1]).toMatchObject({
      method: "POST",
      path: "/api/v1/auth/logout",
      authorization: "Bearer access-1",
    });
    expect(client.signedIn).toBe(false);
  });

  it("forgets the tokens even when the server cannot be reached", async () => {
    const { client } = await signedInClient(() => Promise.reject(new TypeError("offline")));

    const failure = await caught(client.logout());

    expect(failure.code).toBe("network_error");
    expect(client.signedIn).toBe(false);
  });
});
