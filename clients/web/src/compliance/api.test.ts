import { describe, expect, it } from "vitest";

import { ApiError } from "../api";
import { type Requester, fetchExport, findPatients, listPeople, searchAudit } from "./api";
import { NO_FILTERS } from "./auditQuery";

interface Asked {
  method: string;
  path: string;
}

/** A stand-in for the app's client that records what was asked and answers `answer`. */
function requester(answer: unknown = {}): { client: Requester; asked: Asked[] } {
  const asked: Asked[] = [];
  const client = {
    request: async <T>(method: string, path: string): Promise<T> => {
      asked.push({ method, path });
      return answer as T;
    },
  } as Requester;
  return { client, asked };
}

function errorAnswer(status: number, code: string): Response {
  return new Response(JSON.stringify({ error: { code, detail: `detail ${code}` } }), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

const CSV = "seq,action\r\n1,read\r\n";

function csvAnswer(): Response {
  return new Response(CSV, {
    headers: {
      "Content-Type": "text/csv; charset=utf-8",
      "Content-Disposition": 'attachment; filename="audit-org-20261128T150000Z.csv"',
    },
  });
}

describe("searchAudit", () => {
  it("asks for one page of the filtered log", async () => {
    const { client, asked } = requester({ events: [], next_cursor: null });
    await searchAudit(client, { ...NO_FILTERS, action: "read" }, "next-1");
    expect(asked).toEqual([
      { method: "GET", path: "/api/v1/audit?action=read&limit=50&cursor=next-1" },
    ]);
  });
});

describe("listPeople", () => {
  it("asks for the organization's staff", async () => {
    const priya = { id: "u1", display_name: "Dr. Priya Chandra", role: "pcp", is_active: true };
    const { client, asked } = requester({ people: [priya], count: 1 });
    expect(await listPeople(client)).toEqual([priya]);
    expect(asked).toEqual([{ method: "GET", path: "/api/v1/audit/people" }]);
  });
});

describe("findPatients", () => {
  it("tries the MRN first, then a phone number if the value can be one", async () => {
    const { client, asked } = requester({ patients: [] });
    await findPatients(client, " (555) 010-2 ");
    await findPatients(client, "RCH-100001");
    expect(asked.map((a) => a.path)).toEqual([
      "/api/v1/patients?mrn=%28555%29+010-2",
      "/api/v1/patients?phone=%28555%29+010-2",
      "/api/v1/patients?mrn=RCH-100001",
    ]);
  });

  it("stops at a patient found by MRN", async () => {
    const maria = { id: "p1", full_name: "Maria", date_of_birth: "1979-04-12", mrn: "1001" };
    const { client, asked } = requester({ patients: [maria] });
    expect(await findPatients(client, "1001555")).toEqual([maria]);
    expect(asked).toHaveLength(1);
  });
});

describe("fetchExport", () => {
  it("downloads the bytes under the server's file name, with the filters", async () => {
    const { client } = requester();
    const urls: string[] = [];
    const file = await fetchExport(
      client,
      "csv",
      { ...NO_FILTERS, outcome: "denied" },
      async (url) => {
        urls.push(String(url));
        return csvAnswer();
      },
    );
    expect(urls).toEqual(["/api/v1/audit/export.csv?outcome=denied"]);
    expect(file.name).toBe("audit-org-20261128T150000Z.csv");
    expect(await file.blob.text()).toBe(CSV);
  });

  it("lets the shared client refresh an expired session, then tries once more", async () => {
    const { client, asked } = requester();
    const answers = [errorAnswer(401, "token_expired"), csvAnswer()];
    const file = await fetchExport(client, "csv", NO_FILTERS, async () => answers.shift()!);
    expect(asked).toEqual([{ method: "GET", path: "/api/v1/me" }]);
    expect(await file.blob.text()).toBe(CSV);
  });

  it("throws the server's error for any other refusal", async () => {
    const { client, asked } = requester();
    const refused = fetchExport(client, "fhir", NO_FILTERS, async () =>
      errorAnswer(422, "export_too_large"),
    );
    await expect(refused).rejects.toMatchObject({ status: 422, code: "export_too_large" });
    expect(asked).toEqual([]);
  });

  it("says so when the server cannot be reached", async () => {
    const { client } = requester();
    const failed = fetchExport(client, "csv", NO_FILTERS, async () => {
      throw new TypeError("Failed to fetch");
    });
    await expect(failed).rejects.toBeInstanceOf(ApiError);
    await expect(failed).rejects.toMatchObject({ status: 0, code: "network_error" });
  });
});
