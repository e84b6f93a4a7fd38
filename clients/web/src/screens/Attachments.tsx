import { useEffect, useState } from "preact/hooks";

import type { Attachment } from "../care/types";
import { describeError } from "../messages";
import { api } from "../session";
import { Alert } from "../ui";

/** Files of one conversation: download links (the cookie authenticates them) and upload.
 * The list is read again whenever the thread moves on (`newestSeq`), since uploads by
 * others are not announced live. */
export function Attachments(props: { conversationId: string; newestSeq: number }) {
  const { conversationId, newestSeq } = props;
  const [files, setFiles] = useState<Attachment[]>([]);
  const [chosen, setChosen] = useState<File | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const base = `/api/v1/conversations/${conversationId}/attachments`;

  const load = async () => {
    const answer = await api.request<{ attachments: Attachment[] }>("GET", base, { auth: true });
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
      await api.request(
        "POST",
        `${base}?filename=${encodeURIComponent(chosen.name)}`,
        { auth: true, file: chosen },
      );
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
