import { useEffect, useId, useRef, useState } from "preact/hooks";

import { ApiError } from "../api";
import type { Conversation, Message } from "../care/types";
import { describeError } from "../messages";
import { followLink } from "../router";
import { Alert, useFocusOnMount } from "../ui";
import { taskFromMessage } from "./actions";
import { careTeams, loadCareTeam } from "./store";
import {
  KIND_NAMES,
  PRIORITY_NAMES,
  QUEUE_NAMES,
  type Task,
  type TaskKind,
  type TaskPriority,
} from "./types";
import { localToIso, titleFrom } from "./worklist";
import "./tasks.css";

/** The "Make a task" button under a message, its form, and what came of it. */
export function MakeTask(props: { message: Message; conversation: Conversation; myId: string }) {
  const [open, setOpen] = useState(false);
  const [made, setMade] = useState<Task | null>(null);
  const button = useRef<HTMLButtonElement>(null);
  const done = (task: Task | null) => {
    setOpen(false);
    if (task) setMade(task);
    setTimeout(() => button.current?.focus());
  };
  return (
    <>
      {!open && (
        <button
          type="button"
          class="link"
          ref={button}
          aria-expanded={false}
          onClick={() => setOpen(true)}
        >
          Make a task
        </button>
      )}
      {open && <MakeTaskForm {...props} onDone={done} />}
      {made && (
        <p role="status" class="task-made">
          Task made.{" "}
          <a href="/tasks" onClick={followLink}>
            Open the worklist
          </a>
        </p>
      )}
    </>
  );
}

const KINDS = (Object.keys(KIND_NAMES) as TaskKind[]).filter((k) => k !== "warm_handoff");

/** "Make a task" from a message: title prefilled from it; for me, a colleague on the
 * patient's care team, or a role queue. The thread shows the server's note live. */
export function MakeTaskForm(props: {
  message: Message;
  conversation: Conversation;
  myId: string;
  onDone: (made: Task | null) => void;
}) {
  const ids = useId();
  const titleField = useFocusOnMount<HTMLInputElement>();
  const patientId = props.conversation.patient_id!;
  const [title, setTitle] = useState(titleFrom(props.message.body));
  const [kind, setKind] = useState<TaskKind>("follow_up");
  const [assignee, setAssignee] = useState("me");
  const [priority, setPriority] = useState<TaskPriority>("routine");
  const [due, setDue] = useState("");
  const [details, setDetails] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => void loadCareTeam(patientId), [patientId]);
  const colleagues = (careTeams.value[patientId]?.members ?? []).filter(
    (m) => m.user_id !== props.myId,
  );

  const submit = async (event: Event) => {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    const [target, value] = assignee.split(":", 2);
    try {
      const task = await taskFromMessage(props.message.id, {
        title: title.trim(),
        kind,
        details: details.trim() === "" ? null : details.trim(),
        assignee_user_id: target === "user" ? value! : null,
        assignee_role: target === "role" ? value! : null,
        priority,
        due_at: localToIso(due),
      });
      props.onDone(task);
    } catch (failure) {
      if (!(failure instanceof ApiError && failure.endsSession)) setError(describeError(failure));
      setBusy(false);
    }
  };

  return (
    <form class="make-task" onSubmit={submit} aria-labelledby={`${ids}-title`}>
      <h3 id={`${ids}-title`}>Make a task from this message</h3>
      <div class="field">
        <label for={`${ids}-name`}>Task</label>
        <input
          id={`${ids}-name`}
          ref={titleField}
          required
          maxLength={200}
          value={title}
          onInput={(e) => setTitle(e.currentTarget.value)}
        />
      </div>
      <div class="make-task-grid">
        <div class="field">
          <label for={`${ids}-kind`}>Kind</label>
          <select
            id={`${ids}-kind`}
            value={kind}
            onChange={(e) => setKind(e.currentTarget.value as TaskKind)}
          >
            {KINDS.map((k) => (
              <option key={k} value={k}>
                {KIND_NAMES[k]}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for={`${ids}-assignee`}>For</label>
          <select
            id={`${ids}-assignee`}
            value={assignee}
            onChange={(e) => setAssignee(e.currentTarget.value)}
          >
            <option value="me">Me</option>
            <optgroup label="A role's queue">
              {Object.entries(QUEUE_NAMES).map(([role, name]) => (
                <option key={role} value={`role:${role}`}>
                  {name}
                </option>
              ))}
            </optgroup>
            {colleagues.length > 0 && (
              <optgroup label="The care team">
                {colleagues.map((m) => (
                  <option key={m.user_id} value={`user:${m.user_id}`}>
                    {m.display_name}
                  </option>
                ))}
              </optgroup>
            )}
          </select>
        </div>
        <div class="field">
          <label for={`${ids}-priority`}>Priority</label>
          <select
            id={`${ids}-priority`}
            value={priority}
            onChange={(e) => setPriority(e.currentTarget.value as TaskPriority)}
          >
            {Object.entries(PRIORITY_NAMES).map(([value, name]) => (
              <option key={value} value={value}>
                {name}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for={`${ids}-due`}>Due (optional)</label>
          <input
            id={`${ids}-due`}
            type="datetime-local"
            value={due}
            onInput={(e) => setDue(e.currentTarget.value)}
          />
        </div>
      </div>
      <div class="field">
        <label for={`${ids}-details`}>Details (optional)</label>
        <textarea
          id={`${ids}-details`}
          maxLength={4000}
          value={details}
          onInput={(e) => setDetails(e.currentTarget.value)}
        />
      </div>
      {error && <Alert>{error}</Alert>}
      <div class="task-actions">
        <button type="submit" disabled={busy}>
          {busy ? "Making the task…" : "Make task"}
        </button>
        <button type="button" class="secondary" onClick={() => props.onDone(null)}>
          Cancel
        </button>
      </div>
    </form>
  );
}
