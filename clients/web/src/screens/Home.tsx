import type { Me } from "../api";
import { roleName } from "../messages";
import { TopBar, useFocusOnMount } from "../ui";

export function Home({ me }: { me: Me }) {
  const heading = useFocusOnMount<HTMLHeadingElement>();
  const minutes = me.organization.idle_timeout_minutes;
  return (
    <>
      <TopBar />
      <main class="page" aria-labelledby="home-title">
        <h1 id="home-title" ref={heading} tabIndex={-1}>
          Signed in as {me.user.display_name}
        </h1>
        <dl class="facts">
          <div>
            <dt>Role</dt>
            <dd>{roleName(me.user.role)}</dd>
          </div>
          <div>
            <dt>Organization</dt>
            <dd>{me.organization.name}</dd>
          </div>
          <div>
            <dt>E-mail</dt>
            <dd>{me.user.email}</dd>
          </div>
        </dl>
        <p class="hint">
          To protect patients' privacy, Huddle signs you out after {minutes}{" "}
          {minutes === 1 ? "minute" : "minutes"} without activity.
        </p>
      </main>
    </>
  );
}
