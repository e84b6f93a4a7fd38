// Search the organization's audit log, page back through older events, open one, and
// download what the search found as CSV or as a FHIR Bundle of AuditEvents.

import { useEffect, useState } from "preact/hooks";

import { noteActivity } from "../idle";
import { describeError, roleName } from "../messages";
import { api } from "../session";
import { Alert } from "../ui";
import { type AuditEvent, type ExportFormat, fetchExport, listPeople, searchAudit } from "./api";
import {
  ACTIONS,
  type AuditFilters,
  type FlaggedChoice,
  NO_FILTERS,
  OUTCOMES,
  filterProblems,
  formatTime,
  humanize,
} from "./auditQuery";
import { EventDetail } from "./EventDetail";
import { type ChosenPatient, PatientLookup } from "./PatientLookup";
import type { Person } from "./people";
import { PersonPicker } from "./PersonPicker";

interface Chosen {
  patient: ChosenPatient | null;
  /** The actor the user filter names when picked from an event and not in the picker
   * (a patient's portal account, shown as "Patient"). */
  actorName: string | null;
}

export function AuditSearch() {
  const [form, setForm] = useState<AuditFilters>(NO_FILTERS);
  const [chosen, setChosen] = useState<Chosen>({ patient: null, actorName: null });
  const [applied, setApplied] = useState<AuditFilters>(NO_FILTERS);
  const [events, setEvents] = useState<AuditEvent[]>([]);
  const [nextCursor, setNextCursor] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  const [selected, setSelected] = useState<AuditEvent | null>(null);
  const [people, setPeople] = useState<Person[]>([]);
  const [peopleError, setPeopleError] = useState<string | null>(null);

  const run = async (filters: AuditFilters, cursor: string | null = null) => {
    if (busy) return; // one search at a time, so pages never mix
    const problems = filterProblems(filters);
    setAttempt((n) => n + 1);
    if (problems.length > 0) {
      setError(problems.join(" "));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const page = await searchAudit(api, filters, cursor);
      setEvents((shown) => (cursor === null ? page.events : [...shown, ...page.events]));
      setNextCursor(page.next_cursor);
      setApplied(filters);
      setLoaded(true);
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  };

  useEffect(() => {
    void run(NO_FILTERS);
    listPeople(api)
      .then(setPeople)
      .catch((failure) =>
        setPeopleError(`The list of people could not be loaded. ${describeError(failure)}`),
      );
  }, []);

  const set = <K extends keyof AuditFilters>(name: K, value: AuditFilters[K]) =>
    setForm((current) => ({ ...current, [name]: value }));

  const choosePatient = (patient: ChosenPatient | null) => {
    setChosen((current) => ({ ...current, patient }));
    set("patientId", patient?.id ?? "");
  };

  const narrow = (change: Partial<AuditFilters>, names: Partial<Chosen>) => {
    const filters = { ...form, ...change };
    setForm(filters);
    setChosen((current) => ({ ...current, ...names }));
    setSelected(null);
    void run(filters);
  };

  const choosePerson = (userId: string) => {
    set("actorUserId", userId);
    setChosen((current) => ({ ...current, actorName: null }));
  };
  const inPicker = form.actorUserId === "" || people.some((p) => p.id === form.actorUserId);

  const clear = () => {
    setForm(NO_FILTERS);
    setChosen({ patient: null, actorName: null });
    void run(NO_FILTERS);
  };

  return (
    <section class="panel" aria-labelledby="audit-search-title" id="audit-search">
      <h2 id="audit-search-title">Search the audit log</h2>
      <form
        class="filters"
        aria-busy={busy}
        onSubmit={(e) => {
          e.preventDefault();
          void run(form);
        }}
      >
        <PatientLookup idPrefix="search" chosen={chosen.patient} onChoose={choosePatient} />
        {inPicker ? (
          <PersonPicker
            idPrefix="search"
            people={people}
            value={form.actorUserId}
            onChange={choosePerson}
          />
        ) : (
          <div class="field chosen">
            <p>
              User: <strong>{chosen.actorName ?? form.actorUserId}</strong>
            </p>
            <button type="button" class="secondary" onClick={() => choosePerson("")}>
              Any user
            </button>
          </div>
        )}
        {peopleError && <Alert>{peopleError}</Alert>}
        <div class="field-row">
          <div class="field">
            <label for="search-action">Action</label>
            <select
              id="search-action"
              value={form.action}
              onChange={(e) => set("action", e.currentTarget.value)}
            >
              <option value="">Any action</option>
              {ACTIONS.map((action) => (
                <option key={action} value={action}>
                  {humanize(action)}
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="search-outcome">Outcome</label>
            <select
              id="search-outcome"
              value={form.outcome}
              onChange={(e) => set("outcome", e.currentTarget.value)}
            >
              <option value="">Any outcome</option>
              {OUTCOMES.map((outcome) => (
                <option key={outcome} value={outcome}>
                  {humanize(outcome)}
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="search-flagged">Flagged for review</label>
            <select
              id="search-flagged"
              value={form.flagged}
              onChange={(e) => set("flagged", e.currentTarget.value as FlaggedChoice)}
            >
              <option value="">Either</option>
              <option value="true">Flagged only</option>
              <option value="false">Not flagged</option>
            </select>
          </div>
        </div>
        <div class="field-row">
          <div class="field">
            <label for="search-since">From</label>
            <input
              id="search-since"
              type="datetime-local"
              value={form.since}
              onInput={(e) => set("since", e.currentTarget.value)}
            />
          </div>
          <div class="field">
            <label for="search-until">Until</label>
            <input
              id="search-until"
              type="datetime-local"
              value={form.until}
              onInput={(e) => set("until", e.currentTarget.value)}
            />
          </div>
        </div>
        <p class="hint">Times are in this computer's time zone.</p>
        <div class="actions">
          <button type="submit">{busy ? "Searching…" : "Search"}</button>
          <button type="button" class="secondary" onClick={clear}>
            Clear filters
          </button>
        </div>
      </form>

      {error && <Alert key={attempt}>{error}</Alert>}
      {loaded && (
        <>
          <ExportButtons filters={applied} />
          <Results events={events} onOpen={setSelected} />
          {nextCursor !== null && (
            <button
              type="button"
              class="secondary"
              onClick={() => run(applied, nextCursor)}
              aria-busy={busy}
            >
              {busy ? "Loading…" : "Show older events"}
            </button>
          )}
        </>
      )}
      {selected && (
        <EventDetail
          event={selected}
          onClose={() => setSelected(null)}
          onOnlyActor={(event) =>
            narrow(
              { actorUserId: event.actor_user_id ?? "" },
              { actorName: event.actor_name ?? event.actor_user_id },
            )
          }
          onOnlyPatient={(event) =>
            narrow(
              { patientId: event.patient_id ?? "" },
              { patient: { id: event.patient_id ?? "", label: `record ${event.patient_id}` } },
            )
          }
        />
      )}
    </section>
  );
}

function Results(props: { events: AuditEvent[]; onOpen: (event: AuditEvent) => void }) {
  const { events, onOpen } = props;
  return (
    <>
      <p role="status" class="result-count">
        {events.length === 0
          ? "No events match these filters."
          : `Showing ${events.length} ${events.length === 1 ? "event" : "events"}, newest first.`}
      </p>
      {events.length > 0 && (
        <div
          class="table-scroll"
          role="region"
          aria-labelledby="audit-results-caption"
          tabIndex={0}
        >
          <table class="audit-table">
            <caption id="audit-results-caption">Audit events</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Who</th>
                <th scope="col">Action</th>
                <th scope="col">Outcome</th>
                <th scope="col">Resource</th>
                <th scope="col">
                  <span class="visually-hidden">Details</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {events.map((event) => (
                <tr
                  key={event.seq}
                  class={event.detail["flagged"] === "true" ? "flagged" : undefined}
                >
                  <td>{formatTime(event.at)}</td>
                  <td>
                    {event.actor_name ?? "—"}
                    {event.actor_role && <span class="sub">{roleName(event.actor_role)}</span>}
                  </td>
                  <td>{humanize(event.action)}</td>
                  <td>
                    <span class={`outcome outcome-${event.outcome}`}>
                      {humanize(event.outcome)}
                    </span>
                  </td>
                  <td>{event.resource_type}</td>
                  <td>
                    <button type="button" class="link" onClick={() => onOpen(event)}>
                      Details<span class="visually-hidden"> of event #{event.seq}</span>
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function ExportButtons({ filters }: { filters: AuditFilters }) {
  const [busy, setBusy] = useState<ExportFormat | null>(null);
  const [message, setMessage] = useState<{ text: string; urgency: "alert" | "status" } | null>(
    null,
  );
  const [attempt, setAttempt] = useState(0);

  const download = async (format: ExportFormat) => {
    if (busy) return;
    setBusy(format);
    setMessage(null);
    setAttempt((n) => n + 1);
    try {
      const file = await fetchExport(api, format, filters);
      noteActivity(); // the server counted the download as activity; so does the idle clock
      saveFile(file.blob, file.name);
      setMessage({ text: `Downloaded ${file.name}.`, urgency: "status" });
    } catch (failure) {
      setMessage({ text: describeError(failure), urgency: "alert" });
    } finally {
      setBusy(null);
    }
  };

  return (
    <div class="exports">
      <p class="hint">
        Download every event this search matches, not just this page (up to 50,000, oldest first).
      </p>
      <div class="actions">
        <button
          type="button"
          class="secondary"
          onClick={() => download("csv")}
          aria-busy={busy === "csv"}
        >
          {busy === "csv" ? "Preparing CSV…" : "Download CSV"}
        </button>
        <button
          type="button"
          class="secondary"
          onClick={() => download("fhir")}
          aria-busy={busy === "fhir"}
        >
          {busy === "fhir" ? "Preparing FHIR…" : "Download FHIR AuditEvents"}
        </button>
      </div>
      {message && (
        <Alert key={attempt} urgency={message.urgency}>
          {message.text}
        </Alert>
      )}
    </div>
  );
}

/** Hand a file to the browser's downloads, then let go of its memory. */
function saveFile(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
