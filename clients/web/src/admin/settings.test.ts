import { describe, expect, it } from "vitest";

import {
  type OrganizationSettings,
  formOf,
  formatDays,
  parseDays,
  settingsPatch,
  settingsProblems,
} from "./settings";

const SAVED: OrganizationSettings = {
  id: "o1",
  name: "Riverside",
  idle_timeout_minutes: 15,
  mfa_required: false,
  timezone: "America/Chicago",
  clinic_opens: "08:00",
  clinic_closes: "17:00",
  clinic_days: "mon,tue,wed,thu,fri",
  after_hours_reply: "The clinic is closed. In an emergency call 911.",
  urgent_escalation_minutes: 30,
  on_call_user_id: null,
};

describe("clinic days", () => {
  it("reads the API's list in week order and writes it back", () => {
    expect(parseDays("fri, MON,sun,funday")).toEqual(["mon", "fri", "sun"]);
    expect(formatDays(["sun", "mon"])).toBe("mon,sun");
    expect(formatDays(parseDays(SAVED.clinic_days))).toBe(SAVED.clinic_days);
  });
});

describe("settingsPatch", () => {
  it("is empty when nothing changed", () => {
    expect(settingsPatch(SAVED, formOf(SAVED))).toEqual({});
  });

  it("holds only what changed, in the API's names and types", () => {
    const form = {
      ...formOf(SAVED),
      idleTimeoutMinutes: " 20 ",
      clinicDays: parseDays("mon,wed"),
      onCallUserId: "u7",
      afterHoursReply: "  Closed now.  ",
    };
    expect(settingsPatch(SAVED, form)).toEqual({
      idle_timeout_minutes: 20,
      clinic_days: "mon,wed",
      on_call_user_id: "u7",
      after_hours_reply: "Closed now.",
    });
  });

  it("never clears the on-call person (the API cannot)", () => {
    const saved = { ...SAVED, on_call_user_id: "u7" };
    expect(settingsPatch(saved, { ...formOf(saved), onCallUserId: "" })).toEqual({});
  });
});

describe("settingsProblems", () => {
  it("accepts the saved settings and the ends of every range", () => {
    expect(settingsProblems(formOf(SAVED))).toEqual({});
    const edges = {
      ...formOf(SAVED),
      idleTimeoutMinutes: "60",
      urgentEscalationMinutes: "5",
      clinicOpens: "00:00",
      clinicCloses: "24:00",
    };
    expect(settingsProblems(edges)).toEqual({});
  });

  it("names each field the server would refuse", () => {
    const form = {
      ...formOf(SAVED),
      idleTimeoutMinutes: "61",
      urgentEscalationMinutes: "4.5",
      clinicOpens: "8am",
      clinicDays: [],
      timezone: " ",
      afterHoursReply: "",
    };
    expect(Object.keys(settingsProblems(form)).sort()).toEqual([
      "afterHoursReply",
      "clinicDays",
      "clinicOpens",
      "idleTimeoutMinutes",
      "timezone",
      "urgentEscalationMinutes",
    ]);
  });

  it("wants the clinic to close after it opens", () => {
    const form = { ...formOf(SAVED), clinicOpens: "17:00", clinicCloses: "08:00" };
    expect(settingsProblems(form)).toEqual({
      clinicCloses: "The clinic must close after it opens.",
    });
  });
});
