import { useEffect, useId, useState } from "preact/hooks";

import { ApiError } from "../api";
import { conversations } from "../care/store";
import { describeError } from "../messages";
import { followLink } from "../router";
import { Alert, when } from "../ui";
import { addComment, readTask } from "./actions";
import { personName } from "./labels";
import { TASK_STATUS_NAMES, type Task, type TaskDetail, type TaskEvent } from "./types";
import type { Me } from "./worklist";

/** A task's source message (when I may read it), details, comments and history, read
 * again whenever the task changes. */
export function TaskDetails({ task, me }: { task: Task; me: Me }) {
  const [detail, setDetail] = useState<TaskDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    // Opening the details is the person's doing; a read after the task changed is not.
    readTask(task.id, detail?.id === task.id)
      .then(setDetail)
      .catch((failure) => {
        if (!(failure instanceof ApiError && failure.endsSession)) setError(describeError(failure));
      });
  }, [task.id, task.revision]);

  if (error) return <Alert>{error}</Alert>;
  if (detail === null) return <p role="status">Loading the task…</p>;
  const source = detail.source;
  const inThread = conversations.value.some((c) => c.id === source?.conversation_id);
  return (
    <div class="task-details">
      {detail.details && <p class="task-text">{detail.details}</p>}
      {source && (
        <blockquote class="task-source">
          <p>
            From message #{source.seq} by {personName(source.sender_id, me)}:{" "}
            {source.withheld ? "withheld (restricted record)" : (source.body ?? "deleted")}
          </p>
          {inThread && (
            <a href={`/conversations/${source.conversation_id}`} onClick={followLink}>
              Open the thread
            </a>
          )}
        </blockquote>
      )}
      {!source && detail.source_message_id && (
        <p class="hint">Made from a message in a thread you are not part of.</p>
      )}
      <h4>Comments</h4>
      {detail.comments.length === 0 ? (
        <p class="hint">No comments yet.</p>
      ) : (
        <ul class="task-comments">
          {detail.comments.map((comment) => (
            <li key={comment.id}>
              <span class="sender">{personName(comment.author_id, me)}</span>,{" "}
              <time dateTime={comment.created_at}>{when(comment.created_at)}</time>:{" "}
              {comment.body ?? "withheld (restricted record)"}
            </li>
          ))}
        </ul>
      )}
      {!detail.withheld && <CommentForm taskId={task.id} onAdded={setDetail} />}
      <h4>History</h4>
      <ol class="task-history">
        {detail.history.map((event, index) => (
          <li key={index}>
            <time dateTime={event.at}>{when(event.at)}</time>: {historyLine(event, me)}
          </li>
        ))}
      </ol>
    </div>
  );
}

const CHANGE_WORDS: Record<string, string> = {
  created: "made the task",
  assigned: "assigned it",
  claimed: "claimed it",
  status: "changed its status",
  reopened: "reopened it",
  edited: "edited it",
  commented: "commented",
  overdue: "flagged it overdue",
  escalated: "passed it to the next consultant",
  returned: "gave it back to the PCP who asked (no consultant left)",
};

function historyLine(event: TaskEvent, me: Me): string {
  const who = personName(event.actor_user_id, me);
  const change = CHANGE_WORDS[event.change] ?? event.change;
  const move =
    event.from_status && event.to_status && event.from_status !== event.to_status
      ? ` (${TASK_STATUS_NAMES[event.from_status]} → ${TASK_STATUS_NAMES[event.to_status]})`
      : "";
  const reason = event.reason ? `: ${event.reason}` : "";
  return `${who[0]!.toUpperCase()}${who.slice(1)}: ${change}${move}${reason}`;
}

function CommentForm({ taskId, onAdded }: { taskId: string; onAdded: (d: TaskDetail) => void }) {
  const [text, setText] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();
  const submit = async (event: Event) => {
    event.preventDefault();
    if (busy || text.trim() === "") return;
    setBusy(true);
    setError(null);
    try {
      onAdded(await addComment(taskId, text.trim()));
      setText("");
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="task-comment-form" onSubmit={submit}>
      <label for={id}>Add a comment</label>
      <textarea
        id={id}
        required
        maxLength={4000}
        value={text}
        onInput={(e) => setText(e.currentTarget.value)}
      />
      {error && <Alert>{error}</Alert>}
      <button type="submit" disabled={busy}>
        Comment
      </button>
    </form>
  );
}
