import { useEffect, useRef, useState } from "preact/hooks";

import type { Me as SignedIn } from "../api";
import { loadOverview, patients } from "../care/store";
import { Alert, when } from "../ui";
import { changeStatus } from "./actions";
import { personName } from "./labels";
import { tasks } from "./store";
import { ReasonForm } from "./TaskCard";
import { describeTaskError, handoffsAwaitingMe } from "./worklist";
import "./tasks.css";

/** The consultant's answer to a warm handoff, asked the moment it arrives: an
 * alertdialog that takes keyboard focus. "Later" leaves it on the worklist. */
export function HandoffPrompt({ me: signedIn }: { me: SignedIn }) {
  const me = { id: signedIn.user.id, role: signedIn.user.role };
  const [later, setLater] = useState<ReadonlySet<string>>(new Set());
  const [declining, setDeclining] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const accept = useRef<HTMLButtonElement>(null);
  const focusBefore = useRef<Element | null>(null);
  const task = handoffsAwaitingMe(tasks.value, me).find((t) => !later.has(t.id));
  const asker = task ? personName(task.created_by, me) : "";
  const patient = task ? (patients.value[task.patient_id]?.full_name ?? "a patient") : "";

  useEffect(() => {
    setDeclining(false);
    setError(null);
    if (task) {
      focusBefore.current ??= document.activeElement;
      accept.current?.focus();
      // The handoff put me on the care team: the patient's name is mine to read now.
      if (!patients.value[task.patient_id]) loadOverview().catch(() => {});
    } else if (focusBefore.current instanceof HTMLElement) {
      // Answered: the keyboard goes back to where it was when the prompt came.
      if (focusBefore.current.isConnected) focusBefore.current.focus();
      focusBefore.current = null;
    }
  }, [task?.id]);
  if (!task) return null;
  const putOff = () => setLater(new Set([...later, task.id]));

  const answer = async (status: "accepted" | "declined", reason?: string) => {
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      await changeStatus(task.id, status, reason);
      // Declined by the last consultant, it stays open with me (nobody left): not again.
      if (status === "declined") setLater((answered) => new Set([...answered, task.id]));
      // Accepting puts me on the care team: the patient's threads and name are mine now.
      if (status === "accepted") await loadOverview().catch(() => {});
    } catch (failure) {
      setError(describeTaskError(failure));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div
      class="handoff-prompt"
      role="alertdialog"
      aria-labelledby="handoff-title"
      aria-describedby="handoff-text"
      onKeyDown={(event) => {
        if (event.key === "Escape" && !declining) putOff();
      }}
    >
      <h2 id="handoff-title">Warm handoff: a patient is here now</h2>
      <div id="handoff-text">
        <p>
          {asker.charAt(0).toUpperCase() + asker.slice(1)} asks you to see {patient} now
          {task.due_at && ` (answer by ${when(task.due_at)})`}.
        </p>
        {task.details && <p class="task-text">“{task.details}”</p>}
      </div>
      {error && <Alert>{error}</Alert>}
      {declining ? (
        <ReasonForm
          action="decline"
          busy={busy}
          onSubmit={(reason) => void answer("declined", reason)}
          onKeep={() => setDeclining(false)}
        />
      ) : (
        <div class="task-actions">
          <button
            type="button"
            ref={accept}
            disabled={busy}
            onClick={() => void answer("accepted")}
          >
            Accept
          </button>
          <button
            type="button"
            class="secondary"
            disabled={busy}
            onClick={() => setDeclining(true)}
          >
            Decline…
          </button>
          <button type="button" class="link" onClick={putOff}>
            Later (keep it on my worklist)
          </button>
        </div>
      )}
    </div>
  );
}
