// The administration API (docs/api.md, "Administration"): users and the organization's
// settings, called through the app's shared request helper. Admins see no patient data.

import type { ApiClient, Role } from "../api";
import type { OrganizationSettings, SettingsPatch } from "./settings";

export type Requester = Pick<ApiClient, "request">;

export interface StaffUser {
  id: string;
  email: string;
  display_name: string;
  role: Role;
  is_active: boolean;
  mfa_enabled: boolean;
  created_at: string;
  deactivated_at: string | null;
}

export interface NewUser {
  email: string;
  display_name: string;
  role: Role;
  password: string;
}

export type UserAction = "deactivate" | "reactivate" | "mfa-reset";

const AUTH = { auth: true } as const;

export async function listUsers(client: Requester): Promise<StaffUser[]> {
  const answer = await client.request<{ users: StaffUser[] }>("GET", "/api/v1/users", AUTH);
  return answer.users;
}

export function createUser(client: Requester, user: NewUser): Promise<StaffUser> {
  return client.request<StaffUser>("POST", "/api/v1/users", { ...AUTH, body: user });
}

export function changeUser(
  client: Requester,
  userId: string,
  action: UserAction,
): Promise<StaffUser> {
  return client.request<StaffUser>(
    "POST",
    `/api/v1/users/${encodeURIComponent(userId)}/${action}`,
    AUTH,
  );
}

export function organizationSettings(client: Requester): Promise<OrganizationSettings> {
  return client.request<OrganizationSettings>("GET", "/api/v1/organization", AUTH);
}

export function updateOrganization(
  client: Requester,
  patch: SettingsPatch,
): Promise<OrganizationSettings> {
  return client.request<OrganizationSettings>("PATCH", "/api/v1/organization", {
    ...AUTH,
    body: patch,
  });
}

/** A clinician and how many patients' care teams they are on: a count, never whose. */
export interface Caseload {
  user_id: string;
  display_name: string;
  role: Role;
  is_active: boolean;
  care_teams: number;
}

export interface CaseloadTransfer {
  transferred: number;
  already_on_team: number;
  from_user: Caseload;
  to_user: Caseload;
}

export async function listCaseloads(client: Requester): Promise<Caseload[]> {
  const answer = await client.request<{ caseloads: Caseload[] }>("GET", "/api/v1/caseloads", AUTH);
  return answer.caseloads;
}

export function transferCaseload(
  client: Requester,
  fromUserId: string,
  toUserId: string,
): Promise<CaseloadTransfer> {
  return client.request<CaseloadTransfer>("POST", "/api/v1/caseloads/transfer", {
    ...AUTH,
    body: { from_user_id: fromUserId, to_user_id: toUserId },
  });
}
