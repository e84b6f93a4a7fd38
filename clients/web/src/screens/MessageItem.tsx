import { useState } from "preact/hooks";

import { ApiError } from "../api";
import { senderName } from "../care/labels";
import { applyMessage } from "../care/store";
import type { Conversation, HistoryVersion, Message } from "../care/types";
import { describeError } from "../messages";
import { api } from "../session";
import { MakeTask } from "../tasks/MakeTask";
import { Alert, when } from "../ui";

interface Props {
  message: Message;
  conversation: Conversation | undefined;
  mine: boolean;
  repliedTo: Message | undefined;
  onReply: (message: Message) => void;
  /** Set for staff: who may make a task from a message about a patient. */
  myId?: string;
}

export function MessageItem(props: Props) {
  const { message, conversation, mine, repliedTo, onReply, myId } = props;
  const [editing, setEditing] = useState(false);
  const [history, setHistory] = useState<HistoryVersion[] | null>(null);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const redacted = message.redacted_at !== null;
  const changeable = mine && !redacted && message.kind === "user";

  const act = async (work: () => Promise<void>) => {
    setError(null);
    try {
      await work();
    } catch (failure) {
      if (!(failure instanceof ApiError && failure.endsSession)) setError(describeError(failure));
    }
  };
  const showHistory = () =>
    act(async () => {
      const answer = await api.request<{ versions: HistoryVersion[] }>(
        "GET",
        `/api/v1/messages/${message.id}/history`,
        { auth: true },
      );
      setHistory(answer.versions);
    });
  const redact = () =>
    act(async () => {
      applyMessage(
        await api.request<Message>("DELETE", `/api/v1/messages/${message.id}`, { auth: true }),
      );
      setConfirmDelete(false);
    });

  return (
    <li class={`message${mine ? " mine" : ""}${message.kind !== "user" ? " system" : ""}`}>
      <p class="message-meta">
        <span class="sender">{senderName(conversation, message.sender_id)}</span>{" "}
        <time dateTime={message.created_at}>{when(message.created_at)}</time>
        {message.priority === "urgent" && <span class="badge urgent">Urgent</span>}
      </p>
      {repliedTo && (
        <p class="reply-quote">
          Replying to {senderName(conversation, repliedTo.sender_id)}: {repliedTo.body ?? "…"}
        </p>
      )}
      {editing ? (
        <EditForm message={message} onDone={() => setEditing(false)} />
      ) : (
        <p class="body">
          {redacted
            ? "This message was deleted."
            : message.withheld
              ? "This message is withheld (restricted record)."
              : message.body}
        </p>
      )}
      {error && <Alert>{error}</Alert>}
      <div class="message-actions">
        {message.version > 1 && !redacted && (
          <button type="button" class="link" onClick={showHistory} aria-expanded={history !== null}>
            Edited — show history
          </button>
        )}
        {message.kind === "user" && !redacted && (
          <button type="button" class="link" onClick={() => onReply(message)}>
            Reply
          </button>
        )}
        {myId && conversation?.patient_id && message.kind === "user" && !redacted && (
          <MakeTask message={message} conversation={conversation} myId={myId} />
        )}
        {changeable && !editing && (
          <button type="button" class="link" onClick={() => setEditing(true)}>
            Edit
          </button>
        )}
        {changeable &&
          (confirmDelete ? (
            <>
              <button type="button" class="link danger" onClick={redact}>
                Confirm delete
              </button>
              <button type="button" class="link" onClick={() => setConfirmDelete(false)}>
                Keep
              </button>
            </>
          ) : (
            <button type="button" class="link" onClick={() => setConfirmDelete(true)}>
              Delete
            </button>
          ))}
      </div>
      {history && (
        <ol class="history" aria-label="Earlier versions">
          {history.map((version) => (
            <li key={version.version}>
              Version {version.version}, replaced {when(version.replaced_at)}:{" "}
              {version.body ?? "(removed)"}
            </li>
          ))}
        </ol>
      )}
    </li>
  );
}

function EditForm({ message, onDone }: { message: Message; onDone: () => void }) {
  const [text, setText] = useState(message.body ?? "");
  const [error, setError] = useState<string | null>(null);
  const save = async (event: Event) => {
    event.preventDefault();
    try {
      applyMessage(
        await api.request<Message>("PATCH", `/api/v1/messages/${message.id}`, {
          auth: true,
          body: { body: text },
        }),
      );
      onDone();
    } catch (failure) {
      setError(describeError(failure));
    }
  };
  const id = `edit-${message.id}`;
  return (
    <form class="edit" onSubmit={save}>
      <label for={id}>Edit message</label>
      <textarea id={id} value={text} onInput={(e) => setText(e.currentTarget.value)} />
      {error && <Alert>{error}</Alert>}
      <button type="submit">Save</button>
      <button type="button" class="secondary" onClick={onDone}>
        Cancel
      </button>
    </form>
  );
}
