import { useEffect, useState } from "preact/hooks";

import type { Attachment } from "../care/types";
import { describeError } from "../messages";
import { api } from "../session";
import { Alert } from "../ui";

/** Files of one conversation: download links (the cookie authenticates them) and upload.
 * An upload is sent at once with a short message naming it, which reaches the others
 * live; the list is read again whenever the thread moves on (`newestSeq`), passively:
 * opening the thread counted through its messages' read. */
export function Attachments(props: { conversationId: string; newestSeq: number }) {
  const { conversationId, newestSeq } = props;
  const [files, setFiles] = useState<Attachment[]>([]);
  const [chosen, setChosen] = useState<File | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const base = `/api/v1/conversations/${conversationId}/attachments`;

  const load = async () => {
    const answer = await api.request<{ attachments: Attachment[] }>("GET", base, {
      auth: true,
      passive: true,
    });
    setFiles(answer.attachments);
  };
  useEffect(() => {
    load().catch(() => {});
  }, [conversationId, newestSeq]);

  const upload = async (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement; // null once the handler awaits
    if (chosen === null || busy) return;
    setBusy(true);
    setError(null);
    try {
      const stored = await api.request<Attachment>(
        "POST",
        `${base}?filename=${encodeURIComponent(chosen.name)}`,
        { auth: true, file: chosen },
      );
      // An upload is its uploader's draft until a message carries it to the others.
      await api.request("POST", `/api/v1/conversations/${conversationId}/messages`, {
        auth: true,
        body: {
          body: `Shared a file: ${stored.filename}`,
          client_msg_id: crypto.randomUUID(),
          attachment_ids: [stored.id],
        },
      });
      form.reset();
      setChosen(null);
      await load();
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="attachments" aria-labelledby="attachments-title">
      <h2 id="attachments-title">Attachments</h2>
      {files.length === 0 ? (
        <p class="hint">No files yet.</p>
      ) : (
        <ul>
          {files.map((file) => (
            <li key={file.id}>
              <a href={`/api/v1/attachments/${file.id}`} download={file.filename}>
                {file.filename}
              </a>{" "}
              <span class="hint">({Math.ceil(file.size / 1024)} KB)</span>
            </li>
          ))}
        </ul>
      )}
      <form onSubmit={upload} aria-busy={busy}>
        <label for="attachment-file">Attach a file (PDF, PNG, JPEG or text, up to 10 MB)</label>
        <input
          id="attachment-file"
          type="file"
          accept="application/pdf,image/png,image/jpeg,text/plain"
          onChange={(e) => setChosen(e.currentTarget.files?.[0] ?? null)}
        />
        {error && <Alert>{error}</Alert>}
        <button type="submit" class="secondary" disabled={chosen === null || busy}>
          {busy ? "Uploading…" : "Upload"}
        </button>
      </form>
    </section>
  );
}
