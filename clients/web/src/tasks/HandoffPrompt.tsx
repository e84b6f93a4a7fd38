import { useEffect, useRef, useState } from "preact/hooks";

import { ApiError, type Me as SignedIn } from "../api";
import { loadOverview, patients } from "../care/store";
import { Alert, when } from "../ui";
import { changeStatus, readTask } from "./actions";
import { personName } from "./labels";
import { forgetTask, taskNotice, tasks } from "./store";
import { ReasonForm } from "./TaskCard";
import { describeTaskError, handoffsAwaitingMe } from "./worklist";
import "./tasks.css";

/** The server's answer when the handoff is no longer waiting for me. */
const NOT_MINE_NOW = new Set(["not_found", "not_assignee"]);
const GONE = "That warm handoff is no longer waiting for you: it went on without an answer.";

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
      // The answer is applied to the tasks: declined, the handoff has another assignee
      // (the next consultant, or the PCP who asked when nobody is left), so it leaves.
      await changeStatus(task.id, status, reason);
      // Accepting puts me on the care team: the patient's threads and name are mine now.
      if (status === "accepted") await loadOverview().catch(() => {});
    } catch (failure) {
      if (failure instanceof ApiError && failure.endsSession) return;
      if (failure instanceof ApiError && NOT_MINE_NOW.has(failure.code)) {
        // It moved on while this page was not told (passed on, or back with the PCP, by
        // the deadline): show it as it is now, or let it go if I may no longer see it.
        await readTask(task.id).catch(() => forgetTask(task.id));
        taskNotice.value = GONE;
        return;
      }
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
