// What the app is showing and the actions that move it along. The session lives in
// HttpOnly cookies the page cannot read (docs/security.md, Browser sessions); this page
// holds no token. Signing out, idle logoff or a session the server ended all go through
// `showSignIn`, which drops every piece of PHI the page held.

import { signal } from "@preact/signals";

import { ApiClient, ApiError, type Me } from "./api";
import { clearCareState, startCare } from "./care/store";
import { noteActivity, startIdleClock, stopIdleClock } from "./idle";
import { IDLE_SIGN_OUT, describeError, sessionEndedMessage } from "./messages";
import { navigate } from "./router";

export interface Notice {
  text: string;
  /** "alert" interrupts (a session that ended on its own); "status" is polite. */
  urgency: "alert" | "status";
}

export type Screen =
  | { name: "sign_in"; notice: Notice | null }
  | { name: "mfa_challenge"; mfaToken: string }
  | { name: "loading" }
  | { name: "app"; me: Me }
  | { name: "mfa_enrolment"; me: Me };

const SIGN_OUT_NOT_CONFIRMED =
  "You are signed out on this device, but the server did not confirm it; " +
  "your session there ends by itself after a period of inactivity.";

/** Roles that work in care-team threads (patients have their own view). */
const CLINICAL_ROLES = new Set(["pcp", "care_manager", "psychiatrist", "bh_clinician"]);

export const screen = signal<Screen>({ name: "sign_in", notice: null });

export const api = new ApiClient({
  fetch: (input, init) => globalThis.fetch(input, init),
  onSessionEnded: (error) => endedByServer(sessionEndedMessage(error)),
  onActivity: noteActivity,
});

function showSignIn(notice: Notice | null): void {
  stopIdleClock();
  clearCareState();
  api.forgetSession();
  screen.value = { name: "sign_in", notice };
}

/** The server ended the session: expire the cookies it left (best effort) and say why. */
function endedByServer(text: string): void {
  showSignIn({ text, urgency: "alert" });
  api.request<void>("POST", "/api/v1/auth/browser/logout").catch(() => {});
}

/** At start: a reload keeps the session (its cookies); otherwise show sign-in. */
export async function resumeSession(): Promise<void> {
  if (!api.mayHaveSession) return;
  api.assumeSession();
  await showSignedIn(false);
}

/** Check a password. Throws ApiError for the form to show (wrong password, locked, ...). */
export async function signIn(email: string, password: string): Promise<void> {
  const result = await api.login(email, password);
  if (result.kind === "mfa_required") {
    screen.value = { name: "mfa_challenge", mfaToken: result.mfaToken };
    return;
  }
  await showSignedIn();
}

/** Answer the MFA challenge. Throws ApiError for a wrong code; a dead challenge restarts. */
export async function answerMfa(mfaToken: string, code: string): Promise<void> {
  try {
    await api.completeMfa(mfaToken, code);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401 && error.code !== "invalid_mfa_code") {
      showSignIn({ text: `${error.detail} Please sign in again.`, urgency: "alert" });
      return;
    }
    throw error;
  }
  await showSignedIn();
}

export function cancelMfa(): void {
  showSignIn(null);
}

/** Load the signed-in user; enrol in MFA first if the organization requires it. */
export async function showSignedIn(explainFailure = true): Promise<void> {
  screen.value = { name: "loading" };
  let me: Me;
  try {
    me = await api.me();
  } catch (error) {
    if (error instanceof ApiError && error.endsSession) return; // back at sign-in, with why
    showSignIn(explainFailure ? { text: describeError(error), urgency: "alert" } : null);
    return;
  }
  if (me.mfa_enrolment_required) {
    screen.value = { name: "mfa_enrolment", me };
    return;
  }
  screen.value = { name: "app", me };
  startIdleClock(me.organization.idle_timeout_minutes, () => void signOut(IDLE_SIGN_OUT));
  const role = me.user.role;
  if (CLINICAL_ROLES.has(role) || role === "patient") {
    const care = {
      api,
      staff: role !== "patient",
      onSessionEnded: (code: string) =>
        endedByServer(sessionEndedMessage(new ApiError(401, code, ""))),
      onActivity: noteActivity,
    };
    startCare(care).catch(() => {}); // a failed first load shows as an empty list
  }
}

/** End the session on the server and forget everything about it here. `reason` is
 * shown instead of the usual confirmation (idle logoff). */
export async function signOut(reason?: string): Promise<void> {
  // PHI leaves the screen first, whatever the server answers.
  stopIdleClock();
  clearCareState();
  screen.value = { name: "loading" };
  navigate("/");
  try {
    await api.logout();
  } catch (error) {
    if (error instanceof ApiError && error.endsSession) {
      return; // already back at sign-in, with the reason
    }
    showSignIn({ text: reason ?? SIGN_OUT_NOT_CONFIRMED, urgency: "alert" });
    return;
  }
  showSignIn(
    reason ? { text: reason, urgency: "alert" } : { text: "You have signed out.", urgency: "status" },
  );
}
