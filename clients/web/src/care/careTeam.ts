// A patient's care team as its clinicians manage it (docs/api.md, "Patients and care
// teams"): who is on it, and the colleagues who could join. Names and roles only.

import type { ApiClient, Role } from "../api";
import type { CareTeam } from "../tasks/types";

export type Requester = Pick<ApiClient, "request">;

export interface Colleague {
  id: string;
  display_name: string;
  role: Role;
}

const AUTH = { auth: true } as const;

function teamPath(patientId: string): string {
  return `/api/v1/patients/${encodeURIComponent(patientId)}/care-team`;
}

export function careTeamOf(client: Requester, patientId: string): Promise<CareTeam> {
  return client.request<CareTeam>("GET", teamPath(patientId), AUTH);
}

/** Add a colleague in their own role (the role they hold on every team). */
export function addToCareTeam(
  client: Requester,
  patientId: string,
  colleague: Colleague,
): Promise<CareTeam> {
  return client.request<CareTeam>("POST", teamPath(patientId), {
    ...AUTH,
    body: { user_id: colleague.id, team_role: colleague.role },
  });
}

export function removeFromCareTeam(
  client: Requester,
  patientId: string,
  userId: string,
): Promise<CareTeam> {
  return client.request<CareTeam>(
    "DELETE",
    `${teamPath(patientId)}/${encodeURIComponent(userId)}`,
    AUTH,
  );
}

export async function listColleagues(client: Requester): Promise<Colleague[]> {
  const answer = await client.request<{ colleagues: Colleague[] }>(
    "GET",
    "/api/v1/colleagues",
    AUTH,
  );
  return answer.colleagues;
}

/** The colleagues not yet on the team, in the order the server gave (by name). */
export function joinable(colleagues: readonly Colleague[], team: CareTeam): Colleague[] {
  const on = new Set(team.members.map((m) => m.user_id));
  return colleagues.filter((c) => !on.has(c.id));
}
