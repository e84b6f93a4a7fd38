import { useState } from "preact/hooks";

import { describeError } from "../messages";
import { answerMfa, cancelMfa } from "../session";
import { Alert, useFocusOnMount } from "../ui";

export function MfaChallenge({ mfaToken }: { mfaToken: string }) {
  const [code, setCode] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [attempts, setAttempts] = useState(0);
  const [busy, setBusy] = useState(false);
  const codeField = useFocusOnMount<HTMLInputElement>();

  const submit = async (event: Event) => {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setAttempts((n) => n + 1);
    setError(null);
    try {
      await answerMfa(mfaToken, code.trim());
    } catch (failure) {
      setError(describeError(failure));
      setCode("");
      codeField.current?.focus();
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="card" aria-labelledby="mfa-title">
      <p class="brand">Huddle</p>
      <h1 id="mfa-title">Two-step sign-in</h1>
      {error && <Alert key={attempts}>{error}</Alert>}
      <form onSubmit={submit} aria-busy={busy}>
        <div class="field">
          <label for="mfa-code">Code</label>
          <p class="hint" id="mfa-code-hint">
            The 6-digit code from your authenticator app, or one of your recovery codes.
          </p>
          <input
            id="mfa-code"
            ref={codeField}
            type="text"
            name="code"
            autocomplete="one-time-code"
            autocapitalize="off"
            spellcheck={false}
            required
            maxLength={64}
            aria-describedby="mfa-code-hint"
            value={code}
            onInput={(e) => setCode(e.currentTarget.value)}
          />
        </div>
        <div class="actions">
          <button type="submit">{busy ? "Checking…" : "Continue"}</button>
          <button type="button" class="secondary" onClick={cancelMfa}>
            Start again
          </button>
        </div>
      </form>
    </main>
  );
}
