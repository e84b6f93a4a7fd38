import { useRef, useState } from "preact/hooks";

import { ApiError } from "../api";
import { describeError } from "../messages";
import { type Notice, signIn } from "../session";
import { Alert, useFocusOnMount } from "../ui";

function signInError(error: unknown): string {
  if (error instanceof ApiError && error.status === 400) {
    return "Enter your e-mail address and your password.";
  }
  return describeError(error);
}

export function SignIn({ notice }: { notice: Notice | null }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [attempts, setAttempts] = useState(0);
  const [busy, setBusy] = useState(false);
  const emailField = useFocusOnMount<HTMLInputElement>();
  const passwordField = useRef<HTMLInputElement>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setAttempts((n) => n + 1);
    setError(null);
    try {
      await signIn(email.trim(), password);
    } catch (failure) {
      setError(signInError(failure));
      setPassword("");
      passwordField.current?.focus();
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="card" aria-labelledby="sign-in-title">
      <p class="brand">Huddle</p>
      <h1 id="sign-in-title">Sign in</h1>
      {notice && attempts === 0 && <Alert urgency={notice.urgency}>{notice.text}</Alert>}
      {error && <Alert key={attempts}>{error}</Alert>}
      <form onSubmit={submit} aria-busy={busy}>
        <div class="field">
          <label for="email">E-mail</label>
          <input
            id="email"
            ref={emailField}
            type="email"
            name="email"
            autocomplete="username"
            autocapitalize="off"
            spellcheck={false}
            required
            maxLength={254}
            value={email}
            onInput={(e) => setEmail(e.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="password">Password</label>
          <input
            id="password"
            ref={passwordField}
            type="password"
            name="password"
            autocomplete="current-password"
            required
            maxLength={1024}
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </div>
        <button type="submit">{busy ? "Signing in…" : "Sign in"}</button>
      </form>
    </main>
  );
}
