// Care teams, as an administrator manages them: how many patients' care teams each
// clinician is on (counts only: admins never see a patient), and moving a leaver's whole
// caseload to a colleague of the same role. Adding or removing one patient's member stays
// with that patient's clinicians, from the patient's thread.

import { useEffect, useState } from "preact/hooks";

import { describeError, roleName } from "../messages";
import { api } from "../session";
import { Alert } from "../ui";
import { type Caseload, type StaffUser, listCaseloads, transferCaseload } from "./api";
import {
  optionLabel,
  teams,
  transferSources,
  transferSummary,
  transferTargets,
} from "./caseloads";

type Message = { text: string; urgency: "alert" | "status" };

export function CaseloadsPanel({ users }: { users: readonly StaffUser[] }) {
  const [caseloads, setCaseloads] = useState<Caseload[] | null>(null);
  const [fromId, setFromId] = useState("");
  const [toId, setToId] = useState("");
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<Message | null>(null);
  const [attempt, setAttempt] = useState(0);

  const say = (text: string, urgency: Message["urgency"]) => {
    setMessage({ text, urgency });
    setAttempt((n) => n + 1);
  };
  // Read again when the accounts above change (a new clinician, a deactivation).
  useEffect(() => {
    listCaseloads(api).then(setCaseloads, (failure) => say(describeError(failure), "alert"));
  }, [users]);

  const all = caseloads ?? [];
  const sources = transferSources(all);
  const targets = transferTargets(all, fromId);
  const from = all.find((c) => c.user_id === fromId);
  const to = targets.find((c) => c.user_id === toId);

  const chooseFrom = (id: string) => {
    setFromId(id);
    setToId("");
    setConfirming(false);
  };
  const submit = (event: Event) => {
    event.preventDefault();
    if (from && to) setConfirming(true);
  };
  const transfer = async () => {
    if (!from || !to || busy) return;
    setBusy(true);
    try {
      const done = await transferCaseload(api, from.user_id, to.user_id);
      const changed = new Map([done.from_user, done.to_user].map((c) => [c.user_id, c]));
      setCaseloads((current) => (current ?? []).map((c) => changed.get(c.user_id) ?? c));
      say(transferSummary(done), "status");
      chooseFrom("");
    } catch (failure) {
      say(describeError(failure), "alert");
    } finally {
      setBusy(false);
      setConfirming(false);
    }
  };

  return (
    <section class="panel" aria-labelledby="care-teams-title" id="care-teams">
      <h2 id="care-teams-title">Care teams</h2>
      <p class="hint">
        How many patients' care teams each clinician is on. Administrators see counts only:
        which patients, and who joins one patient's team, stay with that patient's clinicians.
        When someone leaves, move their caseload to a colleague with the same role.
      </p>
      {message && (
        <Alert key={attempt} urgency={message.urgency}>
          {message.text}
        </Alert>
      )}
      {caseloads === null && !message && <p aria-busy="true">Loading…</p>}
      {caseloads && (
        <div class="table-scroll" role="region" aria-labelledby="caseloads-caption" tabIndex={0}>
          <table>
            <caption id="caseloads-caption">
              Caseloads of {all.length} {all.length === 1 ? "clinician" : "clinicians"}
            </caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">Status</th>
                <th scope="col">Care teams</th>
              </tr>
            </thead>
            <tbody>
              {all.map((c) => (
                <tr key={c.user_id}>
                  <td>{c.display_name}</td>
                  <td>{roleName(c.role)}</td>
                  <td>
                    <span class={c.is_active ? undefined : "status-inactive"}>
                      {c.is_active ? "Active" : "Deactivated"}
                    </span>
                  </td>
                  <td>{c.care_teams}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {caseloads && (
        <form onSubmit={submit} aria-labelledby="transfer-title">
          <h3 id="transfer-title">Transfer a caseload</h3>
          <div class="field">
            <label for="transfer-from">From</label>
            <select
              id="transfer-from"
              required
              value={fromId}
              onChange={(e) => chooseFrom(e.currentTarget.value)}
            >
              <option value="">Choose whose caseload</option>
              {sources.map((c) => (
                <option key={c.user_id} value={c.user_id}>
                  {optionLabel(c)}
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="transfer-to">To</label>
            <select
              id="transfer-to"
              required
              disabled={from === undefined}
              aria-describedby="transfer-to-hint"
              value={toId}
              onChange={(e) => {
                setToId(e.currentTarget.value);
                setConfirming(false);
              }}
            >
              <option value="">Choose a colleague</option>
              {targets.map((c) => (
                <option key={c.user_id} value={c.user_id}>
                  {optionLabel(c)}
                </option>
              ))}
            </select>
            <p class="hint" id="transfer-to-hint">
              {from && targets.length === 0
                ? `Nobody else active has the role ${roleName(from.role)}: add someone above.`
                : "An active colleague with the same role."}
            </p>
          </div>
          {confirming && from && to ? (
            <div class="confirm" role="group" aria-labelledby="transfer-confirm">
              <p id="transfer-confirm">
                Move {from.display_name}'s {teams(from.care_teams)} to {to.display_name}?
              </p>
              <div class="row-actions">
                <button
                  type="button"
                  onClick={transfer}
                  aria-busy={busy}
                  ref={(b) => b?.focus()}
                >
                  {busy ? "Working…" : "Yes, transfer"}
                </button>
                <button type="button" class="secondary" onClick={() => setConfirming(false)}>
                  Cancel
                </button>
              </div>
            </div>
          ) : (
            <button type="submit">Transfer caseload</button>
          )}
        </form>
      )}
    </section>
  );
}
