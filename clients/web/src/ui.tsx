// Small pieces every screen uses: the top bar, alerts, and focus on arrival.

import type { ComponentChildren, RefObject } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";

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

export function TopBar() {
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
  return (
    <header class="topbar">
      <p class="brand">Huddle</p>
      <button type="button" class="secondary" onClick={onSignOut} aria-busy={busy}>
        {busy ? "Signing out…" : "Sign out"}
      </button>
    </header>
  );
}
