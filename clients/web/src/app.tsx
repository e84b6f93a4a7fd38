import { Home } from "./screens/Home";
import { MfaChallenge } from "./screens/MfaChallenge";
import { MfaEnrolment } from "./screens/MfaEnrolment";
import { SignIn } from "./screens/SignIn";
import { screen } from "./session";

export function App() {
  const current = screen.value;
  switch (current.name) {
    case "sign_in":
      return <SignIn notice={current.notice} />;
    case "mfa_challenge":
      return <MfaChallenge mfaToken={current.mfaToken} />;
    case "loading":
      return (
        <main class="card" aria-busy="true">
          <p role="status">Signing in…</p>
        </main>
      );
    case "home":
      return <Home me={current.me} />;
    case "mfa_enrolment":
      return <MfaEnrolment me={current.me} />;
  }
}
