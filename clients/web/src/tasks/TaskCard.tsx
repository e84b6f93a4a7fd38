import { useId, useState } from "preact/hooks";

import { ApiError } from "../api";
import { Alert, useFocusOnMount, when } from "../ui";
import { changeStatus, claimTask, readTask } from "./actions";
import { assigneeLabel, dueLabel, personName, taskPatient, taskTitle } from "./labels";
import { forgetTask, taskNotice } from "./store";
import { TaskDetails } from "./TaskDetails";
import { KIND_NAMES, PRIORITY_NAMES, TASK_STATUS_NAMES, type Task } from "./types";
import { ReturnedHandoffNote } from "./WarmHandoff";
import {
  ACTION_STATUS,
  type Action,
  type Me,
  actionsFor,
  describeTaskError,
  isOverdue,
  isReturnedHandoff,
} from "./worklist";

const ACTION_WORDS: Record<Action, string> = {
  claim: "Claim",
  accept: "Accept",
  start: "Start",
  complete: "Mark done",
  decline: "Decline…",
  cancel: "Cancel task…",
};

/** One task in a worklist: what, whose patient, who has it, its state, what I can do. */
export function TaskCard(props: { task: Task; me: Me; now: number; idPrefix: string }) {
  const { task, me, now } = props;
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [asking, setAsking] = useState<"decline" | "cancel" | null>(null);
  const [open, setOpen] = useState(false);
  const titleId = `${props.idPrefix}-${task.id}`; // a task may show in two sections

  const act = async (work: () => Promise<unknown>) => {
    if (busy) return;
    setBusy(true);
    setError(null);
    taskNotice.value = null;
    try {
      await work();
      setAsking(null);
    } catch (failure) {
      if (failure instanceof ApiError && failure.endsSession) return;
      if (failure instanceof ApiError && failure.code === "already_claimed") {
        // Said above the list: the card shows who has it now, or leaves if I may not see it.
        taskNotice.value = describeTaskError(failure);
        await readTask(task.id).catch(() => forgetTask(task.id));
      } else {
        setError(describeTaskError(failure));
      }
    } finally {
      setBusy(false);
    }
  };
  const run = (action: Action) => {
    if (asksReason(action)) setAsking(action);
    else if (action === "claim") void act(() => claimTask(task.id));
    else void act(() => changeStatus(task.id, ACTION_STATUS[action]));
  };

  return (
    <li class={`task${task.priority === "urgent" ? " urgent" : ""}`} aria-labelledby={titleId}>
      <h3 id={titleId}>{taskTitle(task)}</h3>
      <p class="meta">
        <span>{taskPatient(task)}</span>
        <span>{KIND_NAMES[task.kind]}</span>
        <span class="badge">{TASK_STATUS_NAMES[task.status]}</span>
        {task.priority !== "routine" && (
          <span class={`badge${task.priority === "urgent" ? " urgent" : ""}`}>
            {PRIORITY_NAMES[task.priority]}
          </span>
        )}
        <span>{dueLabel(task)}</span>
        {isOverdue(task, now) && <span class="badge urgent">Overdue</span>}
      </p>
      <p class="task-people">
        For {assigneeLabel(task, me)}; asked by {personName(task.created_by, me)}
        {task.accepted_at !== null && `; accepted ${when(task.accepted_at)}`}
      </p>
      {task.status_reason !== null && <p class="task-reason">Reason: {task.status_reason}</p>}
      {isReturnedHandoff(task) && task.created_by === me.id && (
        <ReturnedHandoffNote task={task} />
      )}
      <div class="task-actions">
        {actionsFor(task, me).map((action) => (
          <button
            key={action}
            type="button"
            class={action === "claim" || action === "accept" ? "" : "secondary"}
            disabled={busy}
            aria-expanded={asksReason(action) ? action === asking : undefined}
            onClick={() => run(action)}
          >
            {ACTION_WORDS[action]}
          </button>
        ))}
        <button type="button" class="link" aria-expanded={open} onClick={() => setOpen(!open)}>
          {open ? "Hide details" : "Details, comments and history"}
        </button>
      </div>
      {asking && (
        <ReasonForm
          action={asking}
          busy={busy}
          onSubmit={(reason) => act(() => changeStatus(task.id, ACTION_STATUS[asking], reason))}
          onKeep={() => setAsking(null)}
        />
      )}
      {error && <Alert>{error}</Alert>}
      {open && <TaskDetails task={task} me={me} />}
    </li>
  );
}

function asksReason(action: Action): action is "decline" | "cancel" {
  return action === "decline" || action === "cancel";
}

/** Declining or cancelling needs a reason (the server refuses one without). */
export function ReasonForm(props: {
  action: "decline" | "cancel";
  busy: boolean;
  onSubmit: (reason: string) => void;
  onKeep: () => void;
}) {
  const [reason, setReason] = useState("");
  const fieldId = useId();
  const field = useFocusOnMount<HTMLTextAreaElement>();
  const submit = (event: Event) => {
    event.preventDefault();
    if (reason.trim() !== "") props.onSubmit(reason.trim());
  };
  return (
    <form class="task-reason-form" onSubmit={submit}>
      <label for={fieldId}>
        {props.action === "decline" ? "Why are you declining?" : "Why cancel this task?"}
      </label>
      <textarea
        id={fieldId}
        required
        maxLength={4000}
        value={reason}
        onInput={(e) => setReason(e.currentTarget.value)}
        ref={field}
      />
      <div class="task-actions">
        <button type="submit" disabled={props.busy}>
          {props.action === "decline" ? "Decline" : "Cancel task"}
        </button>
        <button type="button" class="secondary" onClick={props.onKeep}>
          Keep it
        </button>
      </div>
    </form>
  );
}
