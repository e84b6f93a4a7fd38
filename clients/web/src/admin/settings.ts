// The administrator's pure logic: the organization-settings form, checked the way the
// server checks it (docs/api.md, "Administration"), and turned into the smallest PATCH.

import type { Role } from "../api";

export interface OrganizationSettings {
  id: string;
  name: string;
  idle_timeout_minutes: number;
  mfa_required: boolean;
  timezone: string;
  clinic_opens: string;
  clinic_closes: string;
  clinic_days: string;
  after_hours_reply: string;
  urgent_escalation_minutes: number;
  on_call_user_id: string | null;
}

/** The form as typed: numbers stay text until checked. */
export interface SettingsForm {
  idleTimeoutMinutes: string;
  mfaRequired: boolean;
  timezone: string;
  clinicOpens: string;
  clinicCloses: string;
  clinicDays: Weekday[];
  afterHoursReply: string;
  urgentEscalationMinutes: string;
  onCallUserId: string;
}

export const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export const WEEKDAY_NAMES: Record<Weekday, string> = {
  mon: "Monday",
  tue: "Tuesday",
  wed: "Wednesday",
  thu: "Thursday",
  fri: "Friday",
  sat: "Saturday",
  sun: "Sunday",
};

/** Staff roles an administrator may give a new account, and who may be on call. */
export const STAFF_ROLES: readonly Role[] = [
  "pcp",
  "care_manager",
  "psychiatrist",
  "bh_clinician",
  "compliance_officer",
  "admin",
];
export const CLINICAL_ROLES: ReadonlySet<Role> = new Set([
  "pcp",
  "care_manager",
  "psychiatrist",
  "bh_clinician",
]);

export type SettingsPatch = Partial<Omit<OrganizationSettings, "id" | "name">>;

export function formOf(settings: OrganizationSettings): SettingsForm {
  return {
    idleTimeoutMinutes: String(settings.idle_timeout_minutes),
    mfaRequired: settings.mfa_required,
    timezone: settings.timezone,
    clinicOpens: settings.clinic_opens,
    clinicCloses: settings.clinic_closes,
    clinicDays: parseDays(settings.clinic_days),
    afterHoursReply: settings.after_hours_reply,
    urgentEscalationMinutes: String(settings.urgent_escalation_minutes),
    onCallUserId: settings.on_call_user_id ?? "",
  };
}

/** "mon,tue,fri" → ["mon", "tue", "fri"], in week order, unknown names dropped. */
export function parseDays(text: string): Weekday[] {
  const named = new Set(
    text
      .toLowerCase()
      .split(",")
      .map((day) => day.trim()),
  );
  return WEEKDAYS.filter((day) => named.has(day));
}

export function formatDays(days: readonly Weekday[]): string {
  return WEEKDAYS.filter((day) => days.includes(day)).join(",");
}

/** A whole number from the form, or null if the text is not one. */
function wholeNumber(text: string): number | null {
  return /^\s*\d{1,5}\s*$/.test(text) ? Number.parseInt(text, 10) : null;
}

const CLOCK = /^([01]\d|2[0-3]):[0-5]\d$|^24:00$/;

export type SettingsProblems = Partial<Record<keyof SettingsForm, string>>;

/** What is wrong with the form, per field (empty when it may be saved). */
export function settingsProblems(form: SettingsForm): SettingsProblems {
  const problems: SettingsProblems = {};
  const idle = wholeNumber(form.idleTimeoutMinutes);
  if (idle === null || idle < 1 || idle > 60) {
    problems.idleTimeoutMinutes = "Enter a whole number of minutes from 1 to 60.";
  }
  const escalation = wholeNumber(form.urgentEscalationMinutes);
  if (escalation === null || escalation < 5 || escalation > 1440) {
    problems.urgentEscalationMinutes = "Enter a whole number of minutes from 5 to 1440 (a day).";
  }
  if (!CLOCK.test(form.clinicOpens)) problems.clinicOpens = "Enter a time as HH:MM.";
  if (!CLOCK.test(form.clinicCloses))
    problems.clinicCloses = "Enter a time as HH:MM (24:00 is the end of the day).";
  else if (CLOCK.test(form.clinicOpens) && form.clinicCloses <= form.clinicOpens) {
    problems.clinicCloses = "The clinic must close after it opens.";
  }
  if (form.clinicDays.length === 0) problems.clinicDays = "Choose at least one day.";
  if (!form.timezone.trim()) problems.timezone = "Enter a time zone, such as America/Chicago.";
  const reply = form.afterHoursReply.trim();
  if (reply.length === 0 || reply.length > 1000) {
    problems.afterHoursReply = "Write the reply (up to 1,000 characters).";
  }
  return problems;
}

/** Only what changed, in the API's names; the on-call person cannot be cleared, only changed. */
export function settingsPatch(saved: OrganizationSettings, form: SettingsForm): SettingsPatch {
  const wanted: SettingsPatch = {
    idle_timeout_minutes: Number.parseInt(form.idleTimeoutMinutes, 10),
    mfa_required: form.mfaRequired,
    timezone: form.timezone.trim(),
    clinic_opens: form.clinicOpens,
    clinic_closes: form.clinicCloses,
    clinic_days: formatDays(form.clinicDays),
    after_hours_reply: form.afterHoursReply.trim(),
    urgent_escalation_minutes: Number.parseInt(form.urgentEscalationMinutes, 10),
    on_call_user_id: form.onCallUserId || null,
  };
  const patch: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(wanted)) {
    if (value !== null && value !== saved[name as keyof OrganizationSettings]) patch[name] = value;
  }
  return patch as SettingsPatch;
}
