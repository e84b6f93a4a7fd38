// A patient's accounting of disclosures: who accessed their data, how and when, one line
// per person (HIPAA §164.528 asks for this on request).

import { useState } from "preact/hooks";

import { describeError, roleName } from "../messages";
import { api } from "../session";
import { Alert } from "../ui";
import { type Disclosures, disclosures } from "./api";
import { formatTime, humanize, localTimeToUtc } from "./auditQuery";
import { type ChosenPatient, PatientLookup } from "./PatientLookup";

export function DisclosureAccounting() {
  const [patient, setPatient] = useState<ChosenPatient | null>(null);
  const [since, setSince] = useState("");
  const [until, setUntil] = useState("");
  const [found, setFound] = useState<Disclosures | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    setAttempt((n) => n + 1);
    if (patient === null) {
      setError("Find the patient first.");
      return;
    }
    const from = localTimeToUtc(since);
    const to = localTimeToUtc(until);
    if (from !== null && to !== null && from >= to) {
      setError("“Until” must be later than “From”.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      setFound(await disclosures(api, patient.id, since, until));
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="panel" aria-labelledby="disclosures-title" id="disclosures">
      <h2 id="disclosures-title">Accounting of disclosures</h2>
      <form onSubmit={submit} aria-busy={busy}>
        <PatientLookup
          idPrefix="disclosures"
          chosen={patient}
          onChoose={(chosen) => {
            setPatient(chosen);
            setFound(null);
          }}
        />
        <div class="field-row">
          <div class="field">
            <label for="disclosures-since">From</label>
            <input
              id="disclosures-since"
              type="datetime-local"
              value={since}
              onInput={(e) => setSince(e.currentTarget.value)}
            />
          </div>
          <div class="field">
            <label for="disclosures-until">Until</label>
            <input
              id="disclosures-until"
              type="datetime-local"
              value={until}
              onInput={(e) => setUntil(e.currentTarget.value)}
            />
          </div>
        </div>
        <button type="submit">{busy ? "Listing…" : "List who accessed this record"}</button>
      </form>
      {error && <Alert key={attempt}>{error}</Alert>}
      {found && patient && (
        <div aria-live="polite">
          {found.people.length === 0 ? (
            <p>Nobody accessed this patient's data in that period.</p>
          ) : (
            <div
              class="table-scroll"
              role="region"
              aria-labelledby="disclosures-caption"
              tabIndex={0}
            >
              <table class="audit-table">
                <caption id="disclosures-caption">People who accessed {patient.label}</caption>
                <thead>
                  <tr>
                    <th scope="col">Who</th>
                    <th scope="col">Accesses</th>
                    <th scope="col">Refused</th>
                    <th scope="col">What</th>
                    <th scope="col">First</th>
                    <th scope="col">Last</th>
                  </tr>
                </thead>
                <tbody>
                  {found.people.map((person) => (
                    <tr
                      key={person.actor_user_id ?? "system"}
                      class={person.flagged ? "flagged" : undefined}
                    >
                      <td>
                        {person.actor_name ?? "Huddle"}
                        {person.actor_role && (
                          <span class="sub">{roleName(person.actor_role)}</span>
                        )}
                        {person.flagged && <span class="sub">Break-glass</span>}
                      </td>
                      <td>{person.accesses}</td>
                      <td>{person.denied}</td>
                      <td>{person.kinds.map(humanize).join(", ")}</td>
                      <td>{formatTime(person.first_at)}</td>
                      <td>{formatTime(person.last_at)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </div>
      )}
    </section>
  );
}
