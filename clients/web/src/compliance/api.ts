// The audit API (docs/api.md, "Audit log"), called through the app's shared request helper.
// Every call here is itself audited by the server.

import { ApiError, type ApiClient, errorOf } from "../api";
import {
  type AuditFilters,
  attachmentName,
  auditQueryString,
  windowQueryString,
} from "./auditQuery";
import type { Person } from "./people";

/** What the calls need from the app's client: its one authenticated request helper. */
export type Requester = Pick<ApiClient, "request">;

export interface AuditEvent {
  seq: number;
  id: string;
  at: string;
  organization_id: string;
  actor_user_id: string | null;
  actor_role: string | null;
  actor_name: string | null;
  action: string;
  resource_type: string;
  resource_id: string | null;
  patient_id: string | null;
  outcome: string;
  source_ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  reason: string | null;
  detail: Record<string, string>;
  hash: string;
}

export interface AuditPage {
  events: AuditEvent[];
  next_cursor: string | null;
}

export interface Verification {
  ok: boolean;
  events_checked: number;
  head_seq: number;
  checkpoints_checked: number;
  first_bad_seq: number | null;
  problem: string | null;
  latest_checkpoint: {
    tree_size: number;
    root_hash: string;
    signed_at: string;
    key_id: string;
  } | null;
}

export interface Flag {
  flag: string;
  seq: number;
  at: string;
  first_at: string;
  count: number;
  actor_user_id: string | null;
  actor_role: string | null;
  actor_name: string | null;
  patient_id: string | null;
  patients: number;
  seqs: number[];
}

export interface Flags {
  since: string;
  until: string;
  complete: boolean;
  flags: Flag[];
}

export interface Disclosure {
  actor_user_id: string | null;
  actor_name: string | null;
  actor_role: string | null;
  first_at: string;
  last_at: string;
  accesses: number;
  denied: number;
  kinds: string[];
  flagged: boolean;
}

export interface Disclosures {
  patient_id: string;
  since: string | null;
  until: string | null;
  people: Disclosure[];
}

/** The demographics a compliance officer may see, to know whose trail they review. */
export interface PatientMatch {
  id: string;
  full_name: string;
  date_of_birth: string;
  mrn: string;
}

export const PAGE_SIZE = 50;
const AUDIT = "/api/v1/audit";
const AUTH = { auth: true } as const;

export function searchAudit(
  client: Requester,
  filters: AuditFilters,
  cursor: string | null = null,
): Promise<AuditPage> {
  const query = auditQueryString(filters, { limit: PAGE_SIZE, cursor });
  return client.request<AuditPage>("GET", AUDIT + query, AUTH);
}

/** The organization's staff (names, roles, active or not; no patients), for the picker. */
export async function listPeople(client: Requester): Promise<Person[]> {
  const answer = await client.request<{ people: Person[] }>("GET", `${AUDIT}/people`, AUTH);
  return answer.people;
}

export function auditEvent(client: Requester, seq: number): Promise<AuditEvent> {
  return client.request<AuditEvent>("GET", `${AUDIT}/${seq}`, AUTH);
}

export function verifyAuditLog(client: Requester): Promise<Verification> {
  return client.request<Verification>("GET", `${AUDIT}/verification`, AUTH);
}

export function flaggedEvents(client: Requester, since = "", until = ""): Promise<Flags> {
  return client.request<Flags>("GET", `${AUDIT}/flagged${windowQueryString(since, until)}`, AUTH);
}

export function disclosures(
  client: Requester,
  patientId: string,
  since = "",
  until = "",
): Promise<Disclosures> {
  const query = windowQueryString(since, until, { patient_id: patientId });
  return client.request<Disclosures>("GET", `${AUDIT}/disclosures${query}`, AUTH);
}

/**
 * The patients with exactly this MRN or, failing that, this phone number (compliance
 * officers may look up demographics, never browse). MRNs may be all digits, so the MRN
 * is always tried first.
 */
export async function findPatients(client: Requester, mrnOrPhone: string): Promise<PatientMatch[]> {
  const value = mrnOrPhone.trim();
  const lookup = async (field: "mrn" | "phone") => {
    const query = new URLSearchParams({ [field]: value });
    const found = await client.request<{ patients: PatientMatch[] }>(
      "GET",
      `/api/v1/patients?${query}`,
      AUTH,
    );
    return found.patients;
  };
  const byMrn = await lookup("mrn");
  if (byMrn.length > 0 || !/^[\d\s()+.-]{7,}$/.test(value)) return byMrn;
  return lookup("phone");
}

export type ExportFormat = "csv" | "fhir";

const EXPORTS: Record<ExportFormat, { path: string; accept: string; fallbackName: string }> = {
  csv: { path: `${AUDIT}/export.csv`, accept: "text/csv", fallbackName: "audit.csv" },
  fhir: {
    path: `${AUDIT}/export.fhir`,
    accept: "application/fhir+json",
    fallbackName: "audit.fhir.json",
  },
};

export interface ExportFile {
  name: string;
  blob: Blob;
}

/**
 * Fetch an export as the server made it (bytes and file name). The shared helper decodes
 * JSON only, so this fetches itself with the browser-session cookie; when the access token
 * has expired it lets the shared helper refresh the session (a cheap authenticated call)
 * and tries once more.
 */
export async function fetchExport(
  client: Requester,
  format: ExportFormat,
  filters: AuditFilters,
  fetch: typeof globalThis.fetch = (input, init) => globalThis.fetch(input, init),
): Promise<ExportFile> {
  const { path, accept, fallbackName } = EXPORTS[format];
  const url = path + auditQueryString(filters);
  const get = () =>
    fetch(url, {
      headers: { Accept: accept },
      credentials: "same-origin",
      cache: "no-store",
    }).catch(() => {
      throw new ApiError(0, "network_error", "Could not reach the server. Try again.");
    });
  let response = await get();
  if (response.status === 401) {
    const refused = await errorOf(response);
    if (refused.code !== "token_expired") throw refused;
    await client.request("GET", "/api/v1/me", AUTH);
    response = await get();
  }
  if (!response.ok) throw await errorOf(response);
  const name = attachmentName(response.headers.get("Content-Disposition"), fallbackName);
  return { name, blob: await response.blob() };
}
