// What the app is showing and the actions that move it along. The access and refresh
// tokens live only inside `api` (memory): never in localStorage, sessionStorage or cookies,
// so closing the tab ends the session on this device.

import { signal } from "@preact/signals";

import { ApiClient, ApiError, type Me } from "./api";
import { describeError, sessionEndedMessage } from "./messages";

export interface Notice {
  text: string;
  /** "alert" interrupts (a session that ended on its own); "status" is polite. */
  urgency: "alert" | "status";
}

export type Screen =
  | { name: "sign_in"; notice: Notice | null }
  | { name: "mfa_challenge"; mfaToken: string }
  | { name: "loading" }
  | { name: "home"; me: Me }
  | { name: "mfa_enrolment"; me: Me };

const SIGN_OUT_NOT_CONFIRMED =
  "You are signed out on this device, but the server did not confirm it; " +
  "your session there ends by itself after a period of inactivity.";

export const screen = signal<Screen>({ name: "sign_in", notice: null });

export const api = new ApiClient({
  fetch: (input, init) => globalThis.fetch(input, init),
  onSessionEnded: (error) => showSignIn({ text: sessionEndedMessage(error), urgency: "alert" }),
});

function showSignIn(notice: Notice | null): void {
  api.clearTokens();
  screen.value = { name: "sign_in", notice };
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
export async function showSignedIn(): Promise<void> {
  screen.value = { name: "loading" };
  let me: Me;
  try {
    me = await api.me();
  } catch (error) {
    if (api.signedIn) {
      // Not a session end (that already went back to sign-in): say what happened.
      showSignIn({ text: describeError(error), urgency: "alert" });
    }
    return;
  }
  screen.value = me.mfa_enrolment_required
    ? { name: "mfa_enrolment", me }
    : { name: "home", me };
}

/** End the session on the server and forget everything about it here. */
export async function signOut(): Promise<void> {
  try {
    await api.logout();
  } catch (error) {
    if (error instanceof ApiError && error.endsSession) {
      return; // already back at sign-in, with the reason
    }
    // The tokens are gone from this page all the same; the server ends the session when idle.
    showSignIn({ text: SIGN_OUT_NOT_CONFIRMED, urgency: "alert" });
    return;
  }
  showSignIn({ text: "You have signed out.", urgency: "status" });
}
