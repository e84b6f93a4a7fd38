// Is the audit chain intact? The server recomputes every hash and checks the signed
// checkpoints. That takes time in proportion to the whole log (about 40 µs an event,
// docs/benchmarks.md: minutes for millions), so it runs when the officer asks, not on
// every visit.

import { useState } from "preact/hooks";

import { describeError } from "../messages";
import { api } from "../session";
import { Alert } from "../ui";
import { type Verification, verifyAuditLog } from "./api";
import { count, formatTime } from "./auditQuery";

export function VerificationStatus() {
  const [result, setResult] = useState<Verification | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [attempt, setAttempt] = useState(0);

  const verify = async () => {
    if (busy) return;
    setBusy(true);
    setError(null);
    setAttempt((n) => n + 1);
    try {
      setResult(await verifyAuditLog(api));
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="panel" aria-labelledby="verification-title" id="verification">
      <h2 id="verification-title">Audit chain</h2>
      <div aria-live="polite" aria-busy={busy}>
        {result === null && !busy && (
          <p>
            Recompute every event's hash and check the signed checkpoints, to show that no event was
            changed, removed or reordered. On a large log this takes a while.
          </p>
        )}
        {busy && <p>Checking every event and checkpoint…</p>}
        {result && !busy && <VerificationAnswer result={result} key={attempt} />}
      </div>
      {error && <Alert key={attempt}>{error}</Alert>}
      <button type="button" class="secondary" onClick={verify} aria-busy={busy}>
        {busy ? "Checking…" : result === null ? "Check the audit chain" : "Check again"}
      </button>
    </section>
  );
}

function VerificationAnswer({ result }: { result: Verification }) {
  const checkpoint = result.latest_checkpoint;
  return (
    <>
      {result.ok ? (
        <p class="verdict verdict-ok">
          <strong>Intact.</strong> {count(result.events_checked, "event")} and{" "}
          {count(result.checkpoints_checked, "signed checkpoint")} checked; no event was changed,
          removed or reordered.
        </p>
      ) : (
        <p class="verdict verdict-bad" role="alert">
          <strong>Damaged</strong>
          {result.first_bad_seq !== null && <> from event #{result.first_bad_seq}</>}:{" "}
          {result.problem ?? "the chain does not verify"}. Preserve the database and report this
          now.
        </p>
      )}
      <p class="hint">
        Newest event #{result.head_seq}
        {checkpoint && (
          <>
            ; last signed checkpoint covers {checkpoint.tree_size.toLocaleString()} events, signed{" "}
            {formatTime(checkpoint.signed_at)}
          </>
        )}
        .
      </p>
    </>
  );
}
