import { describe, expect, it } from "vitest";

import {
  type AuditFilters,
  NO_FILTERS,
  attachmentName,
  auditQueryString,
  count,
  filterProblems,
  flagName,
  humanize,
  localTimeToUtc,
  windowQueryString,
} from "./auditQuery";

const PATIENT = "0b6f7c3e-8d1a-4c2e-9f00-1234567890ab";
const USER = "7d2c1f4a-0e9b-4b8a-a111-abcdefabcdef";

function filters(change: Partial<AuditFilters>): AuditFilters {
  return { ...NO_FILTERS, ...change };
}

describe("localTimeToUtc", () => {
  it("reads a datetime-local value as local time and answers in UTC", () => {
    expect(localTimeToUtc("2026-11-28T09:30")).toBe(new Date(2026, 10, 28, 9, 30).toISOString());
    expect(localTimeToUtc("2026-11-28T09:30:15")).toBe(
      new Date(2026, 10, 28, 9, 30, 15).toISOString(),
    );
  });

  it("refuses what is not a full local date and time", () => {
    for (const text of ["", "2026-11-28", "09:30", "2026-13-40T25:99", "2026-11-28T09:30Z"]) {
      expect(localTimeToUtc(text)).toBeNull();
    }
  });
});

describe("auditQueryString", () => {
  it("is empty without filters", () => {
    expect(auditQueryString(NO_FILTERS)).toBe("");
  });

  it("names every filter the way the API does and leaves out the empty ones", () => {
    const query = auditQueryString(
      filters({
        patientId: ` ${PATIENT.toUpperCase()} `,
        actorUserId: USER,
        action: "read",
        outcome: "denied",
        since: "2026-11-01T00:00",
        flagged: "true",
      }),
    );
    const params = new URLSearchParams(query.slice(1));
    expect(query.startsWith("?")).toBe(true);
    expect(Object.fromEntries(params)).toEqual({
      patient_id: PATIENT,
      actor_user_id: USER,
      action: "read",
      outcome: "denied",
      since: new Date(2026, 10, 1, 0, 0).toISOString(),
      flagged: "true",
    });
  });

  it("adds the page size and the cursor of the next page", () => {
    const query = auditQueryString(filters({ action: "export" }), { limit: 50, cursor: "c-9" });
    expect(query).toBe("?action=export&limit=50&cursor=c-9");
    expect(auditQueryString(NO_FILTERS, { limit: 50, cursor: null })).toBe("?limit=50");
  });

  it("encodes values so a cursor cannot add parameters", () => {
    expect(auditQueryString(NO_FILTERS, { cursor: "a&flagged=false" })).toBe(
      "?cursor=a%26flagged%3Dfalse",
    );
  });
});

describe("windowQueryString", () => {
  it("puts the other values first and the window in UTC", () => {
    const query = windowQueryString("2026-11-01T08:00", "", { patient_id: PATIENT });
    expect(query).toBe(
      `?patient_id=${PATIENT}&since=${encodeURIComponent(new Date(2026, 10, 1, 8).toISOString())}`,
    );
    expect(windowQueryString("", "")).toBe("");
  });
});

describe("filterProblems", () => {
  it("accepts no filters and good ones", () => {
    expect(filterProblems(NO_FILTERS)).toEqual([]);
    expect(
      filterProblems(
        filters({ patientId: PATIENT, since: "2026-11-01T00:00", until: "2026-11-02T00:00" }),
      ),
    ).toEqual([]);
  });

  it("says what the server would refuse", () => {
    expect(filterProblems(filters({ patientId: "RCH-100001", actorUserId: "jordan" }))).toEqual([
      "The patient is not a valid record id.",
      "The user is not a valid user id.",
    ]);
    expect(
      filterProblems(filters({ since: "2026-11-02T00:00", until: "2026-11-02T00:00" })),
    ).toEqual(["“Until” must be later than “From”."]);
  });
});

describe("words", () => {
  it("humanizes codes", () => {
    expect(humanize("break_glass")).toBe("Break glass");
    expect(humanize("mfa_reset")).toBe("MFA reset");
    expect(humanize("read")).toBe("Read");
  });

  it("counts in words", () => {
    expect(count(1, "signed checkpoint")).toBe("1 signed checkpoint");
    expect(count(0, "event")).toBe("0 events");
    expect(count(12, "event")).toBe("12 events");
  });

  it("names the server's flags and falls back for new ones", () => {
    expect(flagName("denied_burst")).toBe("Repeated refusals");
    expect(flagName("new_kind")).toBe("New kind");
  });
});

describe("attachmentName", () => {
  it("takes the server's file name", () => {
    const header = 'attachment; filename="audit-0b6f-20261128T153000Z.csv"';
    expect(attachmentName(header, "audit.csv")).toBe("audit-0b6f-20261128T153000Z.csv");
  });

  it("falls back when there is none or it names a path", () => {
    expect(attachmentName(null, "audit.csv")).toBe("audit.csv");
    expect(attachmentName('attachment; filename="../x.csv"', "audit.csv")).toBe("audit.csv");
  });
});
