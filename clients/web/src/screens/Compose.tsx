import { useRef, useState } from "preact/hooks";

import { senderName } from "../care/labels";
import { sendMessage, sendRefusal, signalTyping } from "../care/store";
import type { Conversation, Message, Priority } from "../care/types";
import { Alert } from "../ui";

const TYPING_EVERY_MS = 3000;

interface Props {
  conversation: Conversation;
  replyTo: Message | null;
  onReplyDone: () => void;
  /** Patients write routine messages only; the care team may mark one urgent. */
  allowUrgent: boolean;
}

export function Compose({ conversation, replyTo, onReplyDone, allowUrgent }: Props) {
  const [text, setText] = useState("");
  const [urgent, setUrgent] = useState(false);
  const lastTyping = useRef(0);
  const field = useRef<HTMLTextAreaElement>(null);

  const onInput = (value: string) => {
    setText(value);
    const now = Date.now();
    if (value.trim() !== "" && now - lastTyping.current > TYPING_EVERY_MS) {
      lastTyping.current = now;
      signalTyping(conversation.id);
    }
  };
  const submit = (event: Event) => {
    event.preventDefault();
    const body = text.trim();
    if (body === "") return;
    const priority: Priority = urgent ? "urgent" : "routine";
    sendMessage(conversation.id, body, priority, replyTo?.seq ?? null);
    setText("");
    setUrgent(false);
    onReplyDone();
    field.current?.focus();
  };

  return (
    <form class="compose" onSubmit={submit} aria-label="Write a message">
      {replyTo && (
        <p class="reply-quote">
          Replying to {senderName(conversation, replyTo.sender_id)}: {replyTo.body}{" "}
          <button type="button" class="link" onClick={onReplyDone}>
            Cancel reply
          </button>
        </p>
      )}
      <label for="compose-body">Message</label>
      <textarea
        id="compose-body"
        ref={field}
        rows={3}
        maxLength={10000}
        value={text}
        onInput={(e) => onInput(e.currentTarget.value)}
      />
      {sendRefusal.value && <Alert>{sendRefusal.value}</Alert>}
      <div class="compose-actions">
        {allowUrgent && (
          <label class="checkbox">
            <input
              type="checkbox"
              checked={urgent}
              onChange={(e) => setUrgent(e.currentTarget.checked)}
            />
            Urgent
          </label>
        )}
        <button type="submit">Send</button>
      </div>
    </form>
  );
}
