import { useEffect, useId, useState } from "preact/hooks";

import { ApiError } from "../api";
import { patients } from "../care/store";
import { describeError } from "../messages";
import { Alert, when } from "../ui";
import { readTask, startWarmHandoff } from "./actions";
import { nameOf, tasks } from "./store";
import type { Task } from "./types";
import { type NobodyLeft, isReturnedHandoff, nobodyLeftWords, whyNobodyLeft } from "./worklist";

/** "The patient is here now": the PCP's one step to the on-duty BH consultant, then its
 * fate, live. Given no patient (the worklist), the PCP picks one. */
export function WarmHandoffForm(props: { patientId?: string; conversationId?: string }) {
  const [patientId, setPatientId] = useState(props.patientId ?? "");
  const [note, setNote] = useState("");
  const [started, setStarted] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const ids = useId();
  const choices = Object.values(patients.value).sort((a, b) =>
    a.full_name.localeCompare(b.full_name),
  );

  const submit = async (event: Event) => {
    event.preventDefault();
    if (busy || patientId === "") return;
    setBusy(true);
    setError(null);
    try {
      const task = await startWarmHandoff(patientId, props.conversationId ?? null, note);
      setStarted(task.id);
      setNote("");
    } catch (failure) {
      if (!(failure instanceof ApiError && failure.endsSession)) setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  };

  const handoff = started === null ? undefined : tasks.value[started];
  const nobodyLeft = useNobodyLeftWords(handoff);

  return (
    <section class="warm-handoff" aria-labelledby={`${ids}-title`}>
      <h2 id={`${ids}-title`}>Warm handoff</h2>
      <form onSubmit={submit}>
        {props.patientId === undefined && (
          <div class="field">
            <label for={`${ids}-patient`}>Patient</label>
            <select
              id={`${ids}-patient`}
              required
              value={patientId}
              onChange={(e) => setPatientId(e.currentTarget.value)}
            >
              <option value="">Choose a patient</option>
              {choices.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.full_name} (MRN {p.mrn})
                </option>
              ))}
            </select>
          </div>
        )}
        <div class="field">
          <label for={`${ids}-note`}>Note for the consultant (optional)</label>
          <p class="hint" id={`${ids}-hint`}>
            Where the patient is and why, e.g. “Exam room 4, PHQ-9 of 17”.
          </p>
          <input
            id={`${ids}-note`}
            aria-describedby={`${ids}-hint`}
            maxLength={4000}
            value={note}
            onInput={(e) => setNote(e.currentTarget.value)}
          />
        </div>
        <button type="submit" disabled={busy}>
          {busy ? "Sending…" : "Patient is here now"}
        </button>
      </form>
      {error && <Alert>{error}</Alert>}
      <p role="status" class="handoff-status">
        {handoff && (nobodyLeft ?? handoffWords(handoff))}
      </p>
    </section>
  );
}

/** On the PCP's worklist, a handoff no consultant took says what happened and what to do. */
export function ReturnedHandoffNote({ task }: { task: Task }) {
  const words = useNobodyLeftWords(task);
  return words === null ? null : <p class="task-reason">{words}</p>;
}

/** What the PCP reads about a handoff no consultant took (back with them, docs/tasks.md),
 * or null for any other task. */
function useNobodyLeftWords(task: Task | undefined): string | null {
  const returned = task !== undefined && isReturnedHandoff(task);
  const [why, setWhy] = useState<NobodyLeft | null>(null);
  useEffect(() => {
    setWhy(null);
    if (!returned || task === undefined) return;
    let current = true;
    readWhy(task.id)
      .then((found) => {
        if (current) setWhy(found);
      })
      .catch(() => {});
    return () => {
      current = false;
    };
  }, [task?.id, returned]);
  return returned && task !== undefined ? nobodyLeftWords(task, why) : null;
}

const reading = new Map<string, Promise<NobodyLeft>>();

/** Its history says whether everyone declined or the last one did not answer; the page
 * reads it by itself (passive), once for every place that shows it at the same moment
 * (the worklist's Mine and Overdue), and keeps nothing once read. */
function readWhy(taskId: string): Promise<NobodyLeft> {
  let pending = reading.get(taskId);
  if (pending === undefined) {
    pending = readTask(taskId, true)
      .then((detail) => whyNobodyLeft(detail.history))
      .finally(() => reading.delete(taskId));
    reading.set(taskId, pending);
  }
  return pending;
}

/** Where a warm handoff stands, in the PCP's words (nobody left: `nobodyLeftWords`). */
export function handoffWords(task: Task): string {
  const named = task.assignee_user_id === null ? null : nameOf(task.assignee_user_id);
  const consultant = named ?? "the on-duty consultant";
  if (task.status === "open") {
    const times = task.escalations === 1 ? "once" : `${task.escalations} times`;
    const passed = task.escalations > 0 ? ` (passed on ${times})` : "";
    const due = task.due_at === null ? "" : `, due ${when(task.due_at)}`;
    return `Warm handoff sent to ${consultant}${passed}: waiting for an answer${due}.`;
  }
  if (task.status === "cancelled") return "Warm handoff cancelled.";
  if (task.status === "declined") return `Warm handoff declined by ${consultant}.`;
  const after =
    task.time_to_accept_seconds === null ? "" : ` after ${task.time_to_accept_seconds} s`;
  return `Accepted by ${consultant}${after}.`;
}
