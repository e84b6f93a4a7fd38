import { describe, expect, it, vi } from "vitest";

import { ApiClient, ApiError } from "./api";
import {
  LINK_EXPIRED,
  confirmLink,
  endsLinkSession,
  isSecurePath,
  linkErrorMessage,
  linkMessages,
  messageClass,
  secureTokenFromPath,
  sendLinkReply,
} from "./secureLink";

const TOKEN = "kT3x_9-QwErTyUiOpAsDfGhJkLzXcVbNm1234567890";

describe("secureTokenFromPath", () => {
  it("reads the token from /secure/{token}", () => {
    expect(secureTokenFromPath(`/secure/${TOKEN}`)).toBe(TOKEN);
    expect(secureTokenFromPath(`/secure/${TOKEN}/`)).toBe(TOKEN);
  });

  it.each([
    "/",
    "/secure",
    "/secure/",
    "/conversations/123",
    `/secure/${TOKEN}/extra`,
    "/secure/short",
    "/secure/has%20space-and-more-characters",
    "/secure/%E0%A4%A",
    `/other/secure/${TOKEN}`,
  ])("finds no token in %s", (path) => {
    expect(secureTokenFromPath(path)).toBeNull();
  });
});

describe("isSecurePath", () => {
  it.each([
    ["/secure", true],
    [`/secure/${TOKEN}`, true],
    ["/", false],
    ["/securex", false],
    ["/conversations/1", false],
  ])("%s → %s", (path, expected) => {
    expect(isSecurePath(path)).toBe(expected);
  });
});

describe("linkErrorMessage", () => {
  it("explains a used or expired link without the server's wording", () => {
    const gone = new ApiError(410, "link_expired", "This link can no longer be used.");
    expect(linkErrorMessage(gone)).toBe(LINK_EXPIRED);
  });

  it("shows the server's detail for a wrong date of birth", () => {
    const wrong = new ApiError(401, "link_confirmation_failed", "The details do not match.");
    expect(linkErrorMessage(wrong)).toBe("The details do not match.");
  });

  it("says how long to wait when the link is locked", () => {
    const locked = new ApiError(429, "link_locked", "Too many wrong answers.", "r1", 60);
    expect(linkErrorMessage(locked)).toBe(
      "Too many wrong answers. You can try again in about 1 minute.",
    );
  });
});

describe("endsLinkSession", () => {
  it("is true for any 401 from a session endpoint and nothing else", () => {
    expect(endsLinkSession(new ApiError(401, "token_expired", "x"))).toBe(true);
    expect(endsLinkSession(new ApiError(401, "session_idle", "x"))).toBe(true);
    expect(endsLinkSession(new ApiError(429, "too_many_attempts", "x"))).toBe(false);
    expect(endsLinkSession(new Error("x"))).toBe(false);
  });
});

describe("messageClass", () => {
  it("styles Huddle's own messages differently from people's", () => {
    expect(messageClass("user")).toBe("message");
    expect(messageClass("system")).toBe("message message-system");
    expect(messageClass("auto_reply")).toBe("message message-auto");
  });
});

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

describe("the patient-link calls", () => {
  it("confirm, read and reply with the link session token only", async () => {
    const fetch = vi.fn(async (input: string, _init?: RequestInit) => {
      if (input.endsWith("/confirm")) {
        return json(200, {
          access_token: "link-session",
          token_type: "Bearer",
          expires_in: 1800,
          conversation_id: "c1",
        });
      }
      if (input.endsWith("/session/messages") && _init?.method === "GET") {
        return json(200, { messages: [], last_seq: 0 });
      }
      return json(201, { id: "m1", seq: 4, body: "Hi", kind: "user" });
    });
    const api = new ApiClient({ fetch });

    const session = await confirmLink(api, TOKEN, "1979-04-12");
    expect(session).toEqual({ accessToken: "link-session", expiresIn: 1800, conversationId: "c1" });
    await linkMessages(api, session);
    await sendLinkReply(api, session, "Thanks", "id-1");

    const [confirmUrl, confirmInit] = fetch.mock.calls[0]!;
    expect(confirmUrl).toBe(`/api/v1/patient-links/${TOKEN}/confirm`);
    expect(JSON.parse(String(confirmInit?.body))).toEqual({ date_of_birth: "1979-04-12" });
    expect((confirmInit?.headers as Record<string, string>)["Authorization"]).toBeUndefined();
    const [, readInit] = fetch.mock.calls[1]!;
    expect((readInit?.headers as Record<string, string>)["Authorization"]).toBe(
      "Bearer link-session",
    );
    const [replyUrl, replyInit] = fetch.mock.calls[2]!;
    expect(replyUrl).toBe("/api/v1/patient-links/session/messages");
    expect(replyInit?.method).toBe("POST");
    expect(JSON.parse(String(replyInit?.body))).toEqual({ body: "Thanks", client_msg_id: "id-1" });
    // The link session is not a sign-in: the client keeps no tokens of its own.
    expect(api.signedIn).toBe(false);
  });
});
