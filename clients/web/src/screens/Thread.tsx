import { useEffect, useState } from "preact/hooks";

import type { Me } from "../api";
import { patientName, senderName, threadTitle } from "../care/labels";
import {
  connection,
  conversations,
  loadThread,
  markRead,
  patients,
  referrals,
  threadOf,
} from "../care/store";
import { lastSeq, typingNow } from "../care/threadState";
import type { Conversation, Message } from "../care/types";
import { describeError } from "../messages";
import { WarmHandoffForm } from "../tasks/WarmHandoff";
import { Alert, useFocusOnMount } from "../ui";
import { Attachments } from "./Attachments";
import { CareTeamPanel } from "./CareTeamPanel";
import { Compose } from "./Compose";
import { MessageItem } from "./MessageItem";
import { ReferralPanel } from "./ReferralPanel";

const CONNECTION_WORDS = {
  connecting: "Reconnecting…",
  offline: "Offline: messages you send will go out when the connection is back.",
  stopped: "Live updates are off.",
  live: "",
};

export function Thread({ conversationId, me }: { conversationId: string; me: Me }) {
  const heading = useFocusOnMount<HTMLHeadingElement>();
  const [error, setError] = useState<string | null>(null);
  const [replyTo, setReplyTo] = useState<Message | null>(null);
  const [now, setNow] = useState(Date.now());
  const conversation = conversations.value.find((c) => c.id === conversationId);
  const thread = threadOf(conversationId);
  const newest = lastSeq(thread);
  const myReadSeq =
    conversation?.participants.find((p) => p.user_id === me.user.id)?.read_seq ?? 0;
  const typing = typingNow(thread, now).filter((id) => id !== me.user.id);

  useEffect(() => {
    setError(null);
    loadThread(conversationId).catch((failure) => setError(describeError(failure)));
  }, [conversationId]);
  useEffect(() => {
    if (newest > myReadSeq || (conversation?.unread ?? 0) > 0) markRead(conversationId, newest);
  }, [conversationId, newest, conversation !== undefined]);
  useEffect(() => {
    if (typing.length === 0) return;
    const tick = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(tick);
  }, [typing.length]);
  useEffect(() => setNow(Date.now()), [thread.typing]);

  const referral = referrals.value[conversationId];
  const staff = me.user.role !== "patient";
  const title = conversation
    ? staff
      ? `${patientName(conversation.patient_id ? patients.value[conversation.patient_id] : undefined, conversation.patient_id)}: ${threadTitle(conversation, referral)}`
      : "Messages with your care team"
    : "Conversation";
  const bySeq = new Map(thread.messages.map((m) => [m.seq, m]));

  return (
    <main class="page thread-page" aria-labelledby="thread-title">
      <h1 id="thread-title" ref={heading} tabIndex={-1}>
        {title}
      </h1>
      {connection.value !== "live" && (
        <p role="status" class="notice">
          {CONNECTION_WORDS[connection.value]}
        </p>
      )}
      {error && <Alert>{error}</Alert>}
      {staff && referral && <ReferralPanel referral={referral} />}
      <div role="log" aria-label="Messages" aria-live="polite">
      <ol class="messages">
        {thread.messages.map((message) => (
          <MessageItem
            key={message.id}
            message={message}
            conversation={conversation}
            mine={message.sender_id === me.user.id}
            repliedTo={message.reply_to_seq ? bySeq.get(message.reply_to_seq) : undefined}
            onReply={setReplyTo}
            myId={staff ? me.user.id : undefined}
          />
        ))}
        {thread.pending.map((pending) => (
          <li key={pending.client_msg_id} class="message mine pending">
            <p class="message-meta">
              <span class="sender">{me.user.display_name}</span> <span>Sending…</span>
            </p>
            <p class="body">{pending.body}</p>
          </li>
        ))}
      </ol>
      </div>
      {conversation && <ReadBy conversation={conversation} newest={thread.messages.at(-1)} />}
      <p class="typing" aria-live="polite">
        {typing.length > 0 &&
          `${typing.map((id) => senderName(conversation, id)).join(", ")} ${typing.length === 1 ? "is" : "are"} typing…`}
      </p>
      {conversation && (
        <Compose
          conversation={conversation}
          replyTo={replyTo}
          onReplyDone={() => setReplyTo(null)}
          allowUrgent={staff}
        />
      )}
      {conversation && <Attachments conversationId={conversationId} newestSeq={newest} />}
      {staff && conversation?.patient_id && patients.value[conversation.patient_id] && (
        // Only for a patient whose record I may read: asking otherwise is a refused,
        // audited read (a participant who joined another way, e.g. on-call escalation).
        <CareTeamPanel patientId={conversation.patient_id} myId={me.user.id} />
      )}
      {me.user.role === "pcp" && conversation?.patient_id && (
        <WarmHandoffForm
          patientId={conversation.patient_id}
          // The handoff's notes go to its thread: never one the patient reads.
          conversationId={conversation.kind === "patient" ? undefined : conversationId}
        />
      )}
    </main>
  );
}

/** Who has read the newest message (from everyone's read position). */
function ReadBy({ conversation, newest }: { conversation: Conversation; newest?: Message }) {
  if (newest === undefined) return null;
  const readers = conversation.participants.filter(
    (p) => p.user_id !== newest.sender_id && p.read_seq >= newest.seq,
  );
  return (
    <p class="read-by">
      {readers.length === 0
        ? "Not read by anyone else yet."
        : `Read by ${readers.map((p) => p.display_name).join(", ")}`}
    </p>
  );
}
