// Words the client shows a person: role names, how long to wait, what went wrong.

import { ApiError, type Role } from "./api";

const ROLE_NAMES: Record<Role, string> = {
  pcp: "Primary-care provider",
  care_manager: "Care manager",
  psychiatrist: "Consulting psychiatrist",
  bh_clinician: "Behavioral-health clinician",
  patient: "Patient",
  compliance_officer: "Compliance officer",
  admin: "Administrator",
};

export function roleName(role: string): string {
  return ROLE_NAMES[role as Role] ?? role;
}

export const IDLE_SIGN_OUT = "You were signed out after a period of inactivity.";
export const SESSION_ENDED = "Your session has ended. Please sign in again.";
export const SESSION_EXPIRED =
  "Your session expired: sessions last a limited time, however active. Please sign in again.";
const UNEXPECTED = "Something went wrong. Please try again.";

/** What to tell a person whose session the server has ended. */
export function sessionEndedMessage(error: ApiError): string {
  if (error.code === "session_idle") return IDLE_SIGN_OUT;
  return error.code === "session_expired" ? SESSION_EXPIRED : SESSION_ENDED;
}

/** "about 15 minutes", "30 seconds": a rough, readable form of a wait in seconds. */
export function roughDuration(seconds: number): string {
  const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? "" : "s"}`;
  if (seconds < 60) return plural(Math.max(1, Math.ceil(seconds)), "second");
  if (seconds < 3600) return `about ${plural(Math.ceil(seconds / 60), "minute")}`;
  return `about ${plural(Math.ceil(seconds / 3600), "hour")}`;
}

/** One sentence (or two) for an error alert. */
export function describeError(error: unknown): string {
  if (!(error instanceof ApiError)) return UNEXPECTED;
  if (error.status === 429) {
    const wait =
      error.retryAfter === null
        ? "Please wait a while before trying again."
        : `You can try again in ${roughDuration(error.retryAfter)}.`;
    return `${error.detail} ${wait}`;
  }
  if (error.status >= 500 && error.requestId) {
    return `${error.detail} (Request id: ${error.requestId})`;
  }
  return error.detail;
}
