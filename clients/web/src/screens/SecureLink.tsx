// The page a patient reaches from a "secure message waiting" e-mail: confirm the date of
// birth, then read the thread and reply. No sign-in; the link session token lives only in
// this component's state (memory) and dies with the tab.

import { useEffect, useRef, useState } from "preact/hooks";

import { ApiClient } from "../api";
import {
  LINK_SESSION_ENDED,
  type LinkMessage,
  type LinkSession,
  OPEN_FROM_EMAIL,
  SECURE_PATH,
  confirmLink,
  endsLinkSession,
  linkErrorMessage,
  linkMessages,
  messageClass,
  newClientMsgId,
  sendLinkReply,
} from "../secureLink";
import { Alert, useFocusOnMount } from "../ui";

const linkApi = new ApiClient({ fetch: (input, init) => globalThis.fetch(input, init) });

const MAX_REPLY = 20000;

/** Huddle's own messages say so; people's messages need no label on this page. */
const SENDER_NOTE: Record<string, string> = {
  system: "Clinic notice",
  auto_reply: "Automatic reply",
};

export function SecureLink({ token }: { token: string | null }) {
  const [session, setSession] = useState<LinkSession | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const confirmed = (opened: LinkSession) => {
    // The link is used up now: take it out of the address bar (and history).
    history.replaceState(null, "", SECURE_PATH);
    setNotice(null);
    setSession(opened);
  };
  const ended = () => {
    setSession(null);
    setNotice(LINK_SESSION_ENDED);
  };

  if (session !== null) {
    return <Thread session={session} onEnded={ended} />;
  }
  return <DateOfBirthStep token={token} notice={notice} onConfirmed={confirmed} />;
}

function DateOfBirthStep(props: {
  token: string | null;
  notice: string | null;
  onConfirmed: (session: LinkSession) => void;
}) {
  const [dateOfBirth, setDateOfBirth] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [attempts, setAttempts] = useState(0);
  const [busy, setBusy] = useState(false);
  const heading = useFocusOnMount<HTMLHeadingElement>();
  const field = useRef<HTMLInputElement>(null);
  const token = props.token;

  const submit = async (event: Event) => {
    event.preventDefault();
    if (busy || token === null) return;
    setBusy(true);
    setAttempts((n) => n + 1);
    setError(null);
    try {
      props.onConfirmed(await confirmLink(linkApi, token, dateOfBirth));
    } catch (failure) {
      setError(linkErrorMessage(failure));
      field.current?.focus();
      setBusy(false);
    }
  };

  return (
    <main class="card secure" aria-labelledby="secure-title">
      <p class="brand">Huddle</p>
      <h1 id="secure-title" ref={heading} tabIndex={-1}>
        Secure message
      </h1>
      {props.notice && attempts === 0 && <Alert>{props.notice}</Alert>}
      {error && <Alert key={attempts}>{error}</Alert>}
      {token === null ? (
        <p>{OPEN_FROM_EMAIL}</p>
      ) : (
        <form onSubmit={submit} aria-busy={busy}>
          <p class="hint">
            Your care team sent you a secure message. To read it, confirm your date of birth.
          </p>
          <div class="field">
            <label for="date-of-birth">Date of birth</label>
            <input
              id="date-of-birth"
              ref={field}
              type="date"
              name="date_of_birth"
              autocomplete="bday"
              required
              min="1900-01-01"
              value={dateOfBirth}
              onInput={(e) => setDateOfBirth(e.currentTarget.value)}
            />
          </div>
          <button type="submit">{busy ? "Checking…" : "Continue"}</button>
        </form>
      )}
    </main>
  );
}

function Thread(props: { session: LinkSession; onEnded: () => void }) {
  const { session, onEnded } = props;
  const [messages, setMessages] = useState<LinkMessage[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [attempts, setAttempts] = useState(0);
  const [reply, setReply] = useState("");
  const [sending, setSending] = useState(false);
  const heading = useFocusOnMount<HTMLHeadingElement>();
  const replyField = useRef<HTMLTextAreaElement>(null);
  // One id per reply being written: a retry after a lost answer is not posted twice.
  const pendingId = useRef<string | null>(null);

  const failed = (failure: unknown) => {
    if (endsLinkSession(failure)) {
      onEnded();
      return;
    }
    setAttempts((n) => n + 1);
    setError(linkErrorMessage(failure));
  };

  const load = async () => {
    try {
      const page = await linkMessages(linkApi, session);
      setMessages(page.messages);
    } catch (failure) {
      failed(failure);
    }
  };

  useEffect(() => {
    void load();
  }, [session.accessToken]);

  const send = async (event: Event) => {
    event.preventDefault();
    const body = reply.trim();
    if (sending || body === "") return;
    setSending(true);
    setError(null);
    pendingId.current ??= newClientMsgId();
    try {
      await sendLinkReply(linkApi, session, body, pendingId.current);
    } catch (failure) {
      setSending(false);
      failed(failure);
      return;
    }
    pendingId.current = null;
    setReply("");
    setSending(false);
    await load();
    replyField.current?.focus();
  };

  return (
    <main class="page secure" aria-labelledby="thread-title">
      <p class="brand">Huddle</p>
      <h1 id="thread-title" ref={heading} tabIndex={-1}>
        Your secure messages
      </h1>
      {error && <Alert key={attempts}>{error}</Alert>}
      {messages === null ? (
        <p role="status">Loading messages…</p>
      ) : messages.length === 0 ? (
        <p>There are no messages yet.</p>
      ) : (
        <ol class="messages" aria-label="Messages">
          {messages.map((message) => (
            <MessageItem key={message.id ?? message.seq} message={message} />
          ))}
        </ol>
      )}
      <form class="reply" onSubmit={send} aria-busy={sending}>
        <div class="field">
          <label for="reply">Your reply</label>
          <textarea
            id="reply"
            ref={replyField}
            name="body"
            rows={4}
            required
            maxLength={MAX_REPLY}
            value={reply}
            onInput={(e) => {
              setReply(e.currentTarget.value);
              pendingId.current = null;
            }}
          />
        </div>
        <button type="submit">{sending ? "Sending…" : "Send"}</button>
      </form>
    </main>
  );
}

function MessageItem({ message }: { message: LinkMessage }) {
  const when = formatTime(message.created_at);
  const from = SENDER_NOTE[message.kind] ?? null;
  return (
    <li class={messageClass(message.kind)}>
      {from && <p class="message-from">{from}</p>}
      {/* Text only: a body is never rendered as HTML. */}
      <p class="message-body">{message.body ?? "This message was removed."}</p>
      {when && (
        <p class="message-time">
          <time dateTime={message.created_at}>{when}</time>
        </p>
      )}
    </li>
  );
}

function formatTime(iso: string): string | null {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return null;
  return at.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}
