import { useEffect, useState } from "preact/hooks";

import { ApiError, type Me, type MfaEnrolment as Enrolment } from "../api";
import { describeError } from "../messages";
import { api, showSignedIn } from "../session";
import { Alert, TopBar, useFocusOnMount } from "../ui";

type Step =
  | { name: "starting" }
  | { name: "failed"; message: string }
  | { name: "confirm"; enrolment: Enrolment }
  | { name: "codes"; recoveryCodes: string[] };

/** The organization requires two-step sign-in and this user has not set it up yet. */
export function MfaEnrolment({ me }: { me: Me }) {
  const [step, setStep] = useState<Step>({ name: "starting" });

  const start = async () => {
    setStep({ name: "starting" });
    try {
      setStep({ name: "confirm", enrolment: await api.beginMfaEnrolment() });
    } catch (error) {
      if (error instanceof ApiError && error.code === "mfa_already_enabled") {
        await showSignedIn();
        return;
      }
      if (!(error instanceof ApiError && error.endsSession)) {
        setStep({ name: "failed", message: describeError(error) });
      }
    }
  };

  useEffect(() => {
    void start();
  }, []);

  return (
    <>
      <TopBar />
      <main class="page" aria-labelledby="enrol-title">
        {step.name === "codes" ? (
          <RecoveryCodes codes={step.recoveryCodes} />
        ) : (
          <>
            <Heading id="enrol-title">Set up two-step sign-in</Heading>
            <p>
              {me.organization.name} asks everyone to confirm their sign-in with a code from an
              authenticator app on their phone.
            </p>
            {step.name === "starting" && <p role="status">Preparing your key…</p>}
            {step.name === "failed" && (
              <>
                <Alert>{step.message}</Alert>
                <button type="button" onClick={() => void start()}>
                  Try again
                </button>
              </>
            )}
            {step.name === "confirm" && (
              <ConfirmCode
                enrolment={step.enrolment}
                onConfirmed={(codes) => setStep({ name: "codes", recoveryCodes: codes })}
              />
            )}
          </>
        )}
      </main>
    </>
  );
}

function Heading(props: { id: string; children: string }) {
  const heading = useFocusOnMount<HTMLHeadingElement>();
  return (
    <h1 id={props.id} ref={heading} tabIndex={-1}>
      {props.children}
    </h1>
  );
}

function ConfirmCode(props: { enrolment: Enrolment; onConfirmed: (codes: string[]) => void }) {
  const [code, setCode] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [attempts, setAttempts] = useState(0);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setAttempts((n) => n + 1);
    setError(null);
    try {
      props.onConfirmed(await api.confirmMfaEnrolment(code.trim()));
    } catch (failure) {
      setError(describeError(failure));
      setCode("");
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <ol class="steps">
        <li>
          In your authenticator app, add an account and enter this key:
          <code class="secret">{groupsOfFour(props.enrolment.secret)}</code>
          If your app can open a setup link instead, this is it:
          <code class="uri">{props.enrolment.otpauth_uri}</code>
        </li>
        <li>Enter the 6-digit code the app shows for Huddle.</li>
      </ol>
      {error && <Alert key={attempts}>{error}</Alert>}
      <form onSubmit={submit} aria-busy={busy}>
        <div class="field">
          <label for="enrol-code">6-digit code</label>
          <input
            id="enrol-code"
            type="text"
            name="code"
            inputMode="numeric"
            autocomplete="one-time-code"
            required
            maxLength={64}
            value={code}
            onInput={(e) => setCode(e.currentTarget.value)}
          />
        </div>
        <button type="submit">{busy ? "Checking…" : "Turn on two-step sign-in"}</button>
      </form>
    </>
  );
}

/** "ABCD EFGH ...": easier to read and type; authenticator apps ignore the spaces. */
function groupsOfFour(secret: string): string {
  return secret.replace(/(.{4})(?=.)/g, "$1 ");
}

function RecoveryCodes({ codes }: { codes: string[] }) {
  return (
    <>
      <Heading id="enrol-title">Save your recovery codes</Heading>
      <p>
        Two-step sign-in is on. If you lose your phone, each of these codes lets you sign in
        once. They are shown only this once: write them down or keep them in a password manager.
      </p>
      <ol class="codes">
        {codes.map((code) => (
          <li key={code}>
            <code>{code}</code>
          </li>
        ))}
      </ol>
      <button type="button" onClick={() => void showSignedIn()}>
        I have saved these
      </button>
    </>
  );
}
