import { describe, expect, it } from "vitest";

import type { Caseload } from "./api";
import { transferSources, transferSummary, transferTargets } from "./caseloads";

function person(
  id: string,
  role: Caseload["role"],
  care_teams: number,
  is_active = true,
): Caseload {
  return { user_id: id, display_name: `Person ${id}`, role, is_active, care_teams };
}

const STAFF = [
  person("leaver", "care_manager", 4, false),
  person("colleague", "care_manager", 2),
  person("gone", "care_manager", 0, false),
  person("doctor", "pcp", 9),
  person("new", "care_manager", 0),
];

describe("transferSources", () => {
  it("offers anyone on a care team, deactivated or not", () => {
    const ids = transferSources(STAFF).map((c) => c.user_id);
    expect(ids).toEqual(["leaver", "colleague", "doctor"]);
  });
});

describe("transferTargets", () => {
  it("offers active people of the same role other than the source", () => {
    expect(transferTargets(STAFF, "leaver").map((c) => c.user_id)).toEqual(["colleague", "new"]);
    expect(transferTargets(STAFF, "doctor")).toEqual([]);
    expect(transferTargets(STAFF, "")).toEqual([]);
  });
});

describe("transferSummary", () => {
  it("says how many teams moved, and how many the receiver was on already", () => {
    const from = person("leaver", "care_manager", 0);
    const to = person("colleague", "care_manager", 5);
    const summary = (transferred: number, already_on_team: number) =>
      transferSummary({ transferred, already_on_team, from_user: from, to_user: to });
    expect(summary(3, 1)).toBe(
      "Moved 4 care teams from Person leaver to Person colleague " +
        "(Person colleague was already on 1 of them). Person colleague is now on 5 care teams.",
    );
    expect(summary(1, 0)).toBe(
      "Moved 1 care team from Person leaver to Person colleague. " +
        "Person colleague is now on 5 care teams.",
    );
    expect(summary(0, 0)).toBe("Person leaver is on no care team: nothing to move.");
  });
});
