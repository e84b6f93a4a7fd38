// The organization's settings: automatic sign-out, two-step sign-in policy, clinic hours
// and the after-hours reply, and who is on call for urgent messages left unread.

import { useState } from "preact/hooks";

import { describeError, roleName } from "../messages";
import { api } from "../session";
import { Alert } from "../ui";
import { type StaffUser, updateOrganization } from "./api";
import {
  CLINICAL_ROLES,
  type OrganizationSettings,
  type SettingsForm,
  WEEKDAYS,
  WEEKDAY_NAMES,
  formOf,
  settingsPatch,
  settingsProblems,
} from "./settings";

/** Each setting's input, in the order the form shows them. */
const FIELD_IDS: Record<keyof SettingsForm, string> = {
  idleTimeoutMinutes: "org-idle",
  mfaRequired: "org-mfa",
  clinicOpens: "org-opens",
  clinicCloses: "org-closes",
  timezone: "org-timezone",
  clinicDays: "org-day-mon",
  afterHoursReply: "org-reply",
  urgentEscalationMinutes: "org-escalation",
  onCallUserId: "org-on-call",
};
const FORM_ORDER = Object.keys(FIELD_IDS) as (keyof SettingsForm)[];

export function OrganizationPanel(props: {
  saved: OrganizationSettings;
  users: StaffUser[];
  onSaved: (settings: OrganizationSettings) => void;
}) {
  const { saved, users, onSaved } = props;
  const [form, setForm] = useState<SettingsForm>(() => formOf(saved));
  const [shown, setShown] = useState<Partial<Record<keyof SettingsForm, string>>>({});
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<{ text: string; urgency: "alert" | "status" } | null>(
    null,
  );
  const [attempt, setAttempt] = useState(0);

  const set = <K extends keyof SettingsForm>(name: K, value: SettingsForm[K]) =>
    setForm((current) => ({ ...current, [name]: value }));

  const onCall = users.filter(
    (user) =>
      CLINICAL_ROLES.has(user.role) && (user.is_active || user.id === saved.on_call_user_id),
  );

  const submit = async (event: Event) => {
    event.preventDefault();
    if (busy) return;
    setAttempt((n) => n + 1);
    const problems = settingsProblems(form);
    setShown(problems);
    const first = FORM_ORDER.find((field) => problems[field] !== undefined);
    if (first !== undefined) {
      // Take the person to the first field to correct (its error is read with it).
      requestAnimationFrame(() => document.getElementById(FIELD_IDS[first])?.focus());
      setMessage({
        text: "Some settings need correcting; see the fields marked below.",
        urgency: "alert",
      });
      return;
    }
    const patch = settingsPatch(saved, form);
    if (Object.keys(patch).length === 0) {
      setMessage({ text: "Nothing has changed.", urgency: "status" });
      return;
    }
    setBusy(true);
    try {
      const settings = await updateOrganization(api, patch);
      onSaved(settings);
      setForm(formOf(settings));
      setMessage({ text: "Settings saved.", urgency: "status" });
    } catch (failure) {
      setMessage({ text: describeError(failure), urgency: "alert" });
    } finally {
      setBusy(false);
    }
  };

  /** Props tying an input to its hint and error, so both are read with it. */
  const described = (name: keyof SettingsForm, hint?: string) => {
    const ids = [hint, shown[name] ? `org-${name}-error` : undefined].filter(Boolean).join(" ");
    return { "aria-describedby": ids || undefined, "aria-invalid": shown[name] ? true : undefined };
  };
  const error = (name: keyof SettingsForm) =>
    shown[name] && (
      <p class="field-error" id={`org-${name}-error`}>
        {shown[name]}
      </p>
    );

  return (
    <section class="panel" aria-labelledby="organization-title" id="organization">
      <h2 id="organization-title">Organization settings</h2>
      <form onSubmit={submit} aria-busy={busy} noValidate>
        <fieldset>
          <legend>Sign-in and privacy</legend>
          <div class="field">
            <label for="org-idle">Automatic sign-out after (minutes idle)</label>
            <input
              id="org-idle"
              inputMode="numeric"
              value={form.idleTimeoutMinutes}
              onInput={(e) => set("idleTimeoutMinutes", e.currentTarget.value)}
              {...described("idleTimeoutMinutes", "org-idle-hint")}
            />
            <p class="hint" id="org-idle-hint">
              1 to 60. Applies to staff and patients.
            </p>
            {error("idleTimeoutMinutes")}
          </div>
          <div class="field check">
            <input
              id="org-mfa"
              type="checkbox"
              checked={form.mfaRequired}
              onChange={(e) => set("mfaRequired", e.currentTarget.checked)}
            />
            <label for="org-mfa">Require two-step sign-in for all staff</label>
          </div>
        </fieldset>
        <fieldset>
          <legend>Clinic hours</legend>
          <div class="field-row">
            <div class="field">
              <label for="org-opens">Opens</label>
              <input
                id="org-opens"
                value={form.clinicOpens}
                inputMode="numeric"
                onInput={(e) => set("clinicOpens", e.currentTarget.value)}
                {...described("clinicOpens", "org-opens-hint")}
              />
              <p class="hint" id="org-opens-hint">
                HH:MM, 24-hour clock.
              </p>
              {error("clinicOpens")}
            </div>
            <div class="field">
              <label for="org-closes">Closes</label>
              <input
                id="org-closes"
                value={form.clinicCloses}
                inputMode="numeric"
                onInput={(e) => set("clinicCloses", e.currentTarget.value)}
                {...described("clinicCloses", "org-closes-hint")}
              />
              <p class="hint" id="org-closes-hint">
                HH:MM; 24:00 for the end of the day.
              </p>
              {error("clinicCloses")}
            </div>
            <div class="field">
              <label for="org-timezone">Time zone</label>
              <input
                id="org-timezone"
                value={form.timezone}
                maxLength={64}
                spellcheck={false}
                onInput={(e) => set("timezone", e.currentTarget.value)}
                {...described("timezone", "org-timezone-hint")}
              />
              <p class="hint" id="org-timezone-hint">
                An IANA name, such as America/Chicago.
              </p>
              {error("timezone")}
            </div>
          </div>
          <fieldset class="days" {...described("clinicDays")}>
            <legend>Open on</legend>
            {WEEKDAYS.map((day) => (
              <span class="check" key={day}>
                <input
                  id={`org-day-${day}`}
                  type="checkbox"
                  checked={form.clinicDays.includes(day)}
                  onChange={(e) =>
                    set(
                      "clinicDays",
                      e.currentTarget.checked
                        ? [...form.clinicDays, day]
                        : form.clinicDays.filter((d) => d !== day),
                    )
                  }
                />
                <label for={`org-day-${day}`}>{WEEKDAY_NAMES[day]}</label>
              </span>
            ))}
            {error("clinicDays")}
          </fieldset>
          <div class="field">
            <label for="org-reply">Automatic reply to patients after hours</label>
            <textarea
              id="org-reply"
              rows={3}
              maxLength={1000}
              value={form.afterHoursReply}
              onInput={(e) => set("afterHoursReply", e.currentTarget.value)}
              {...described("afterHoursReply", "org-reply-hint")}
            />
            <p class="hint" id="org-reply-hint">
              Sent in reply to a patient's message outside clinic hours. Say what to do in an
              emergency.
            </p>
            {error("afterHoursReply")}
          </div>
        </fieldset>
        <fieldset>
          <legend>Urgent messages</legend>
          <div class="field-row">
            <div class="field">
              <label for="org-escalation">Escalate unread urgent messages after (minutes)</label>
              <input
                id="org-escalation"
                inputMode="numeric"
                value={form.urgentEscalationMinutes}
                onInput={(e) => set("urgentEscalationMinutes", e.currentTarget.value)}
                {...described("urgentEscalationMinutes", "org-escalation-hint")}
              />
              <p class="hint" id="org-escalation-hint">
                5 to 1440.
              </p>
              {error("urgentEscalationMinutes")}
            </div>
            <div class="field">
              <label for="org-on-call">On call</label>
              <select
                id="org-on-call"
                value={form.onCallUserId}
                onChange={(e) => set("onCallUserId", e.currentTarget.value)}
              >
                {saved.on_call_user_id === null && <option value="">Nobody yet</option>}
                {onCall.map((user) => (
                  <option key={user.id} value={user.id}>
                    {user.display_name} ({roleName(user.role)})
                  </option>
                ))}
              </select>
            </div>
          </div>
        </fieldset>
        <button type="submit">{busy ? "Saving…" : "Save settings"}</button>
      </form>
      {message && (
        <Alert key={attempt} urgency={message.urgency}>
          {message.text}
        </Alert>
      )}
    </section>
  );
}
