// The audit review's pure logic: what the filter form holds, how it becomes the query string
// of a search or an export, and the words shown for actions, outcomes and flags.

/** The audit log's actions (server: protect/audit.py `Action`), in the order offered. */
export const ACTIONS = [
  "read",
  "create",
  "update",
  "delete",
  "export",
  "break_glass",
  "login",
  "logout",
  "login_failed",
  "login_throttled",
  "account_locked",
  "mfa_challenge",
  "mfa_failed",
  "mfa_enrolled",
  "mfa_reset",
  "recovery_code_used",
  "refresh_token_reused",
  "session_idle",
  "password_changed",
  "user_created",
  "user_deactivated",
  "user_reactivated",
  "organization_updated",
  "key_rotated",
  "data_key_destroyed",
  "integrity_failure",
] as const;

export const OUTCOMES = ["success", "failure", "denied", "error"] as const;

export type FlaggedChoice = "" | "true" | "false";

/** The filter form as typed: empty strings mean "any". Times are `datetime-local` values
 * (the browser's local time, no offset), converted to UTC only when a query is built. */
export interface AuditFilters {
  patientId: string;
  actorUserId: string;
  action: string;
  outcome: string;
  since: string;
  until: string;
  flagged: FlaggedChoice;
}

export const NO_FILTERS: AuditFilters = {
  patientId: "",
  actorUserId: "",
  action: "",
  outcome: "",
  since: "",
  until: "",
  flagged: "",
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(text: string): boolean {
  return UUID.test(text.trim());
}

/**
 * A `datetime-local` value ("2026-11-28T09:30") read as the browser's local time, as an
 * ISO-8601 UTC instant for the API; null for an empty or unreadable value.
 */
export function localTimeToUtc(value: string): string | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value)) return null;
  const at = new Date(value);
  return Number.isNaN(at.getTime()) ? null : at.toISOString();
}

/** Problems the server would refuse with a 400, said before asking it; empty when fine. */
export function filterProblems(filters: AuditFilters): string[] {
  const problems: string[] = [];
  if (filters.patientId.trim() && !isUuid(filters.patientId)) {
    problems.push("The patient is not a valid record id.");
  }
  if (filters.actorUserId.trim() && !isUuid(filters.actorUserId)) {
    problems.push("The user is not a valid user id.");
  }
  const since = filters.since ? localTimeToUtc(filters.since) : null;
  const until = filters.until ? localTimeToUtc(filters.until) : null;
  if (filters.since && since === null) problems.push("“From” is not a valid date and time.");
  if (filters.until && until === null) problems.push("“Until” is not a valid date and time.");
  if (since !== null && until !== null && since >= until) {
    problems.push("“Until” must be later than “From”.");
  }
  return problems;
}

/**
 * The query string (with its leading "?", or "" for no filters) of a search or export.
 * Empty filters are left out; `page` adds the search's `limit` and `cursor`.
 */
export function auditQueryString(
  filters: AuditFilters,
  page: { limit?: number; cursor?: string | null } = {},
): string {
  return queryOf({
    patient_id: filters.patientId.trim().toLowerCase(),
    actor_user_id: filters.actorUserId.trim().toLowerCase(),
    action: filters.action,
    outcome: filters.outcome,
    since: localTimeToUtc(filters.since),
    until: localTimeToUtc(filters.until),
    flagged: filters.flagged,
    limit: page.limit === undefined ? null : String(page.limit),
    cursor: page.cursor,
  });
}

/** The query string of a time window (local `datetime-local` values) and other values. */
export function windowQueryString(
  since: string,
  until: string,
  other: Record<string, string> = {},
): string {
  return queryOf({ ...other, since: localTimeToUtc(since), until: localTimeToUtc(until) });
}

/** "?a=1&b=2" from the values that are present; "" when none is. */
function queryOf(values: Record<string, string | null | undefined>): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(values)) {
    if (value) query.set(name, value);
  }
  const text = query.toString();
  return text ? `?${text}` : "";
}

/** "break_glass" → "Break glass", "mfa_reset" → "MFA reset". */
export function humanize(code: string): string {
  const words = code.split("_").map((word) => (word === "mfa" ? "MFA" : word));
  const text = words.join(" ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** "1 event", "1,234 events". */
export function count(n: number, noun: string): string {
  return `${n.toLocaleString()} ${noun}${n === 1 ? "" : "s"}`;
}

const FLAG_NAMES: Record<string, string> = {
  break_glass: "Break-glass access",
  denied_burst: "Repeated refusals",
  after_hours: "After-hours read",
  many_patients_outside_care_team: "Many patients outside the care team",
};

export function flagName(flag: string): string {
  return FLAG_NAMES[flag] ?? humanize(flag);
}

/** The file name a download is saved under: the server's Content-Disposition if it gives
 * one we can use safely, else `fallback`. */
export function attachmentName(contentDisposition: string | null, fallback: string): string {
  const found = /filename="([^"/\\]+)"/.exec(contentDisposition ?? "");
  return found?.[1] ?? fallback;
}

/** "2026-11-28 15:04:05 UTC"-like local rendering of an API time, for people. */
export function formatTime(iso: string): string {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  return at.toLocaleString(undefined, {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
}
