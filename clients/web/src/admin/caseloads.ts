// The caseload transfer's rules as the server applies them (care/caseloads.py), so the
// form offers only choices it would accept, and the words for what a transfer did.

import { roleName } from "../messages";
import type { Caseload, CaseloadTransfer } from "./api";

/** Whose caseload can move: anyone on at least one care team (deactivated leavers too). */
export function transferSources(caseloads: readonly Caseload[]): Caseload[] {
  return caseloads.filter((c) => c.care_teams > 0);
}

/** Who can take it: active, the same role, someone else. */
export function transferTargets(caseloads: readonly Caseload[], fromId: string): Caseload[] {
  const from = caseloads.find((c) => c.user_id === fromId);
  if (from === undefined) return [];
  return caseloads.filter((c) => c.is_active && c.role === from.role && c.user_id !== fromId);
}

export function teams(count: number): string {
  return `${count} care ${count === 1 ? "team" : "teams"}`;
}

export function optionLabel(caseload: Caseload): string {
  const status = caseload.is_active ? "" : ", deactivated";
  const role = roleName(caseload.role);
  return `${caseload.display_name} (${role}${status}, ${teams(caseload.care_teams)})`;
}

export function transferSummary(done: CaseloadTransfer): string {
  const { from_user: from, to_user: to } = done;
  const moved = done.transferred + done.already_on_team;
  if (moved === 0) return `${from.display_name} is on no care team: nothing to move.`;
  const already =
    done.already_on_team === 0
      ? ""
      : ` (${to.display_name} was already on ${done.already_on_team} of them)`;
  const now = `${to.display_name} is now on ${teams(to.care_teams)}.`;
  return `Moved ${teams(moved)} from ${from.display_name} to ${to.display_name}${already}. ${now}`;
}
