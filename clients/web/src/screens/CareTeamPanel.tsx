// The patient's care team beside their thread: who is on it, in what role, and, for its
// members (the server's rule), adding a colleague or taking someone off. Names and roles
// are staff data; the panel shows nothing of the patient the thread does not.

import { useEffect, useId, useState } from "preact/hooks";

import {
  type Colleague,
  addToCareTeam,
  careTeamOf,
  joinable,
  listColleagues,
  removeFromCareTeam,
} from "../care/careTeam";
import { describeError, roleName } from "../messages";
import { api } from "../session";
import { careTeams } from "../tasks/store";
import type { CareTeam } from "../tasks/types";
import { Alert } from "../ui";

type Member = CareTeam["members"][number];
type Message = { text: string; urgency: "alert" | "status" };

export function CareTeamPanel({ patientId, myId }: { patientId: string; myId: string }) {
  const ids = useId();
  const [team, setTeam] = useState<CareTeam | null>(null);
  const [colleagues, setColleagues] = useState<Colleague[] | null>(null);
  const [choice, setChoice] = useState("");
  const [leaving, setLeaving] = useState<Member | null>(null);
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<Message | null>(null);
  const [attempt, setAttempt] = useState(0);
  const manages = team?.members.some((m) => m.user_id === myId) ?? false;

  useEffect(() => {
    setTeam(null);
    setMessage(null);
    careTeamOf(api, patientId).then(show, (failure) => say(describeError(failure), "alert"));
  }, [patientId]);
  useEffect(() => {
    if (manages && colleagues === null) listColleagues(api).then(setColleagues, () => {});
  }, [manages]);

  function show(changed: CareTeam) {
    setTeam(changed);
    careTeams.value = { ...careTeams.value, [patientId]: changed }; // names elsewhere
  }
  function say(text: string, urgency: Message["urgency"]) {
    setMessage({ text, urgency });
    setAttempt((n) => n + 1);
  }
  async function change(work: () => Promise<CareTeam>, done: string) {
    if (busy) return;
    setBusy(true);
    try {
      show(await work());
      say(done, "status");
    } catch (failure) {
      say(describeError(failure), "alert");
    } finally {
      setBusy(false);
      setLeaving(null);
    }
  }

  const add = (event: Event) => {
    event.preventDefault();
    const colleague = colleagues?.find((c) => c.id === choice);
    if (!colleague) return;
    setChoice("");
    void change(
      () => addToCareTeam(api, patientId, colleague),
      `${colleague.display_name} joined the care team.`,
    );
  };
  const remove = (member: Member) =>
    change(
      () => removeFromCareTeam(api, patientId, member.user_id),
      `${member.display_name} left the care team.`,
    );

  const candidates = team && colleagues ? joinable(colleagues, team) : [];
  return (
    <section class="care-team" aria-labelledby={`${ids}-title`}>
      <h2 id={`${ids}-title`}>Care team</h2>
      {message && (
        <Alert key={attempt} urgency={message.urgency}>
          {message.text}
        </Alert>
      )}
      {team === null && !message && <p aria-busy="true">Loading…</p>}
      {team && (
        <ul class="team-members">
          {team.members.map((member) => (
            <li key={member.user_id}>
              <span>
                {member.display_name}
                {member.user_id === myId && " (you)"}
                <span class="team-role">{roleName(member.team_role)}</span>
              </span>
              {manages && (
                <button
                  type="button"
                  class="secondary"
                  onClick={() => setLeaving(member)}
                  aria-label={`Remove ${member.display_name} from the care team`}
                >
                  Remove
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      {leaving && (
        <div class="confirm" role="group" aria-labelledby={`${ids}-confirm`}>
          <p id={`${ids}-confirm`}>
            Remove <strong>{leaving.display_name}</strong> from the care team?{" "}
            {leaving.user_id === myId ? "You" : "They"} will no longer see this patient's record.
          </p>
          <div class="referral-actions">
            <button
              type="button"
              onClick={() => remove(leaving)}
              aria-busy={busy}
              ref={(b) => b?.focus()}
            >
              {busy ? "Removing…" : "Yes, remove"}
            </button>
            <button type="button" class="secondary" onClick={() => setLeaving(null)}>
              Cancel
            </button>
          </div>
        </div>
      )}
      {manages && colleagues && candidates.length === 0 && (
        <p class="hint">Every clinician of your organization is on this team.</p>
      )}
      {manages && candidates.length > 0 && (
        <form onSubmit={add} aria-busy={busy} class="team-add">
          <div class="field">
            <label for={`${ids}-colleague`}>Add a colleague</label>
            <select
              id={`${ids}-colleague`}
              required
              value={choice}
              onChange={(e) => setChoice(e.currentTarget.value)}
            >
              <option value="">Choose a colleague</option>
              {candidates.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.display_name} ({roleName(c.role)})
                </option>
              ))}
            </select>
          </div>
          <button type="submit">Add to care team</button>
        </form>
      )}
    </section>
  );
}
