// Events the server flags for review (break-glass, bursts of refusals, after-hours reads,
// many patients outside the care team) over the last 30 days, newest first.

import { useEffect, useState } from "preact/hooks";

import { describeError, roleName } from "../messages";
import { api } from "../session";
import { Alert } from "../ui";
import { type AuditEvent, type Flags, auditEvent, flaggedEvents } from "./api";
import { flagName, formatTime } from "./auditQuery";
import { EventDetail } from "./EventDetail";

export function FlaggedEvents() {
  const [found, setFound] = useState<Flags | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  const [opened, setOpened] = useState<AuditEvent | null>(null);

  const fail = (failure: unknown) => {
    setAttempt((n) => n + 1);
    setError(describeError(failure));
  };

  useEffect(() => {
    flaggedEvents(api).then(setFound, fail);
  }, []);

  const open = async (seq: number) => {
    setError(null);
    try {
      setOpened(await auditEvent(api, seq));
    } catch (failure) {
      fail(failure);
    }
  };

  return (
    <section class="panel" aria-labelledby="flagged-title" id="flagged">
      <h2 id="flagged-title">Flagged for review</h2>
      {error && <Alert key={attempt}>{error}</Alert>}
      {found === null && !error && <p aria-busy="true">Loading…</p>}
      {found && (
        <>
          <p class="hint">
            {formatTime(found.since)} to {formatTime(found.until)}.
            {!found.complete &&
              " The window held too many events to review at once: only the newest were scanned."}
          </p>
          {found.flags.length === 0 ? (
            <p>Nothing is flagged.</p>
          ) : (
            <ul class="flag-list">
              {found.flags.map((flag) => (
                <li key={`${flag.flag}-${flag.seq}`} class="flag">
                  <p class="flag-kind">
                    <strong>{flagName(flag.flag)}</strong>
                    {flag.count > 1 && <> · {flag.count} events</>}
                    {flag.patients > 1 && <> · {flag.patients} patients</>}
                  </p>
                  <p>
                    {flag.actor_name ?? "Unknown user"}
                    {flag.actor_role && <> ({roleName(flag.actor_role)})</>}, {formatTime(flag.at)}
                  </p>
                  <button type="button" class="link" onClick={() => open(flag.seq)}>
                    Open event #{flag.seq}
                  </button>
                </li>
              ))}
            </ul>
          )}
        </>
      )}
      {opened && <EventDetail event={opened} onClose={() => setOpened(null)} />}
    </section>
  );
}
