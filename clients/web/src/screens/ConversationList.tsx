import { conversations, patients, referrals } from "../care/store";
import { patientName, STATUS_NAMES, threadTitle } from "../care/labels";
import type { Conversation } from "../care/types";
import { followLink } from "../router";
import { useFocusOnMount, when } from "../ui";

/** Conversations grouped by patient; within a patient, referral threads first. */
function groupByPatient(list: readonly Conversation[]): [string | null, Conversation[]][] {
  const groups = new Map<string | null, Conversation[]>();
  for (const conversation of list) {
    const group = groups.get(conversation.patient_id) ?? [];
    group.push(conversation);
    groups.set(conversation.patient_id, group);
  }
  for (const group of groups.values()) {
    group.sort((a, b) => Number(b.kind === "referral") - Number(a.kind === "referral"));
  }
  return [...groups];
}

export function ConversationList({ title = "Conversations" }: { title?: string }) {
  const heading = useFocusOnMount<HTMLHeadingElement>();
  const list = conversations.value;
  return (
    <main class="page" aria-labelledby="list-title">
      <h1 id="list-title" ref={heading} tabIndex={-1}>
        {title}
      </h1>
      {list.length === 0 && <p class="hint">No conversations yet.</p>}
      {groupByPatient(list).map(([patientId, group]) => (
        <section key={patientId ?? "staff"} aria-labelledby={`group-${patientId ?? "staff"}`}>
          <h2 id={`group-${patientId ?? "staff"}`}>
            {patientName(patientId ? patients.value[patientId] : undefined, patientId)}
          </h2>
          <ul class="threads">
            {group.map((conversation) => (
              <ThreadLink key={conversation.id} conversation={conversation} />
            ))}
          </ul>
        </section>
      ))}
    </main>
  );
}

function ThreadLink({ conversation }: { conversation: Conversation }) {
  const referral = referrals.value[conversation.id];
  const unread = conversation.unread;
  return (
    <li class={unread > 0 ? "thread unread" : "thread"}>
      <a href={`/conversations/${conversation.id}`} onClick={followLink}>
        {threadTitle(conversation, referral)}
      </a>
      <span class="meta">
        {referral && (
          <span class={`badge ${referral.urgency}`}>
            {referral.urgency} · {STATUS_NAMES[referral.status]}
          </span>
        )}
        {unread > 0 && <span class="badge count">{unread} unread</span>}
        <span>Last activity {when(conversation.last_activity_at)}</span>
      </span>
    </li>
  );
}
