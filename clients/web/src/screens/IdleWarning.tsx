import { useEffect, useRef } from "preact/hooks";

import { idleWarning } from "../idle";
import { api } from "../session";

/** The last minute before automatic logoff: says so, and offers to stay signed in. */
export function IdleWarning() {
  const seconds = idleWarning.value;
  const stay = useRef<HTMLButtonElement>(null);
  const showing = seconds !== null;
  useEffect(() => {
    if (showing) stay.current?.focus();
  }, [showing]);
  if (!showing) return null;
  return (
    <div class="idle-warning" role="alertdialog" aria-labelledby="idle-title" aria-describedby="idle-text">
      <h2 id="idle-title">Still there?</h2>
      <p id="idle-text">
        To protect patients' privacy you will be signed out in {seconds}{" "}
        {seconds === 1 ? "second" : "seconds"}.
      </p>
      {/* A request the person makes (not passive) is activity: it restarts the idle clock. */}
      <button type="button" ref={stay} onClick={() => void api.me().catch(() => {})}>
        Stay signed in
      </button>
    </div>
  );
}
