import { AppShell } from "./screens/AppShell";
import { MfaChallenge } from "./screens/MfaChallenge";
import { MfaEnrolment } from "./screens/MfaEnrolment";
import { SecureLink } from "./screens/SecureLink";
import { SignIn } from "./screens/SignIn";
import { isSecurePath, secureTokenFromPath } from "./secureLink";
import { resumeSession, screen } from "./session";

// Read once at start: the secure-link page takes the token out of the address bar.
const SECURE_PAGE = isSecurePath(location.pathname);
const LINK_TOKEN = secureTokenFromPath(location.pathname);

if (!SECURE_PAGE) void resumeSession();

export function App() {
  if (SECURE_PAGE) {
    return <SecureLink token={LINK_TOKEN} />;
  }
  const current = screen.value;
  switch (current.name) {
    case "sign_in":
      return <SignIn notice={current.notice} />;
    case "mfa_challenge":
      return <MfaChallenge mfaToken={current.mfaToken} />;
    case "loading":
      return (
        <main class="card" aria-busy="true">
          <p role="status">Please wait…</p>
        </main>
      );
    case "app":
      return <AppShell me={current.me} />;
    case "mfa_enrolment":
      return <MfaEnrolment me={current.me} />;
  }
}
