import { describe, expect, it } from "vitest";

import { ApiError } from "./api";
import {
  IDLE_SIGN_OUT,
  SESSION_ENDED,
  SESSION_EXPIRED,
  describeError,
  roleName,
  roughDuration,
  sessionEndedMessage,
} from "./messages";

describe("roleName", () => {
  it.each([
    ["pcp", "Primary-care provider"],
    ["care_manager", "Care manager"],
    ["psychiatrist", "Consulting psychiatrist"],
    ["bh_clinician", "Behavioral-health clinician"],
    ["compliance_officer", "Compliance officer"],
    ["admin", "Administrator"],
  ])("%s is shown as %s", (role, words) => {
    expect(roleName(role)).toBe(words);
  });

  it("shows an unknown role as it is rather than nothing", () => {
    expect(roleName("pharmacist")).toBe("pharmacist");
  });
});

describe("roughDuration", () => {
  it.each([
    [1, "1 second"],
    [45, "45 seconds"],
    [60, "about 1 minute"],
    [61, "about 2 minutes"],
    [900, "about 15 minutes"],
    [7200, "about 2 hours"],
  ])("%i s reads as %s", (seconds, words) => {
    expect(roughDuration(seconds)).toBe(words);
  });
});

describe("describeError", () => {
  it("says how long to wait when rate limited", () => {
    const locked = new ApiError(429, "account_locked", "This account is locked.", "r1", 900);
    expect(describeError(locked)).toBe(
      "This account is locked. You can try again in about 15 minutes.",
    );
  });

  it("still asks to wait when no Retry-After came", () => {
    const limited = new ApiError(429, "too_many_attempts", "Too many attempts.");
    expect(describeError(limited)).toBe(
      "Too many attempts. Please wait a while before trying again.",
    );
  });

  it("shows the server's detail, with the request id for server faults", () => {
    expect(describeError(new ApiError(401, "invalid_credentials", "Wrong."))).toBe("Wrong.");
    expect(describeError(new ApiError(500, "internal_error", "Oops.", "req-9"))).toBe(
      "Oops. (Request id: req-9)",
    );
  });

  it("never shows a raw exception", () => {
    expect(describeError(new TypeError("x is undefined"))).toBe(
      "Something went wrong. Please try again.",
    );
  });
});

describe("sessionEndedMessage", () => {
  it("tells idle sign-out apart from other endings", () => {
    expect(sessionEndedMessage(new ApiError(401, "session_idle", "idle"))).toBe(IDLE_SIGN_OUT);
    expect(sessionEndedMessage(new ApiError(401, "session_revoked", "ended"))).toBe(SESSION_ENDED);
    expect(sessionEndedMessage(new ApiError(401, "session_expired", "ended"))).toBe(
      SESSION_EXPIRED,
    );
    expect(IDLE_SIGN_OUT).toBe("You were signed out after a period of inactivity.");
    expect(SESSION_ENDED).toBe("Your session has ended. Please sign in again.");
  });
});
