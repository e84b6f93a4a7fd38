// Small pieces every screen uses: the top bar, alerts, and focus on arrival.

import type { ComponentChildren, RefObject } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";

import type { Me } from "./api";
import { roleName } from "./messages";
import { navFor } from "./nav";
import { followLink, path } from "./router";
import { signOut } from "./session";

/** Focus the element once when the screen appears, so keyboard and screen-reader users
 * start at its heading (or first field) rather than wherever focus was before. */
export function useFocusOnMount<T extends HTMLElement>(): RefObject<T | null> {
  const ref = useRef<T>(null);
  useEffect(() => {
    ref.current?.focus();
  }, []);
  return ref;
}

/** An error or notice. Give it `key={attempt}` so a repeated message is announced again. */
export function Alert(props: { children: ComponentChildren; urgency?: "alert" | "status" }) {
  const urgency = props.urgency ?? "alert";
  return (
    <p role={urgency} class={urgency === "alert" ? "alert" : "notice"}>
      {props.children}
    </p>
  );
}

export function TopBar({ me }: { me?: Me }) {
  const [busy, setBusy] = useState(false);
  const onSignOut = async () => {
    if (busy) return;
    setBusy(true);
    try {
      await signOut();
    } finally {
      setBusy(false);
    }
  };
  const items = me ? navFor(me.user.role) : [];
  return (
    <header class="topbar">
      <p class="brand">Huddle</p>
      {me && (
        <p class="who">
          <span class="who-name">{me.user.display_name}</span>{" "}
          <span>{roleName(me.user.role)}</span> <span>{me.organization.name}</span>
        </p>
      )}
      {items.length > 0 && (
        <nav aria-label="Main">
          <ul class="nav">
            {items.map((item) => (
              <li key={item.label}>
                <a
                  href={item.path}
                  onClick={followLink}
                  aria-current={path.value === item.path ? "page" : undefined}
                >
                  {item.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
      )}
      <button type="button" class="secondary" onClick={onSignOut} aria-busy={busy}>
        {busy ? "Signing out…" : "Sign out"}
      </button>
    </header>
  );
}

/** "2:05 PM" today, "Mar 3, 2:05 PM" otherwise. */
export function when(iso: string): string {
  const at = new Date(iso);
  const today = new Date().toDateString() === at.toDateString();
  return at.toLocaleString(undefined, {
    ...(today ? {} : { month: "short", day: "numeric" }),
    hour: "numeric",
    minute: "2-digit",
  });
}
