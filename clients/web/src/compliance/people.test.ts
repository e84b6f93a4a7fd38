import { describe, expect, it } from "vitest";

import { type Person, matchingPeople, personLabel } from "./people";

const people: Person[] = [
  { id: "1", display_name: "Carmen Ruiz, LCSW", role: "care_manager", is_active: true },
  { id: "2", display_name: "Dr. Priya Chandra", role: "pcp", is_active: true },
  { id: "3", display_name: "Dr. Sam Okafor", role: "psychiatrist", is_active: false },
  { id: "4", display_name: "José Núñez", role: "pcp", is_active: true },
];
const ids = (found: Person[]) => found.map((p) => p.id);

describe("the people picker", () => {
  it("names each person with their role, and says who has left", () => {
    expect(personLabel(people[1]!)).toBe("Dr. Priya Chandra — Primary-care provider");
    expect(personLabel(people[2]!)).toBe("Dr. Sam Okafor — Consulting psychiatrist (deactivated)");
  });

  it("finds people by every word typed, whatever the case or accents", () => {
    expect(ids(matchingPeople(people, ""))).toEqual(["1", "2", "3", "4"]);
    expect(ids(matchingPeople(people, "chandra"))).toEqual(["2"]);
    expect(ids(matchingPeople(people, "  dr   OKA "))).toEqual(["3"]);
    expect(ids(matchingPeople(people, "jose nunez"))).toEqual(["4"]);
    expect(ids(matchingPeople(people, "care manager"))).toEqual(["1"]); // by role too
    expect(ids(matchingPeople(people, "nobody"))).toEqual([]);
  });

  it("keeps the person already chosen whatever is typed", () => {
    expect(ids(matchingPeople(people, "chandra", "1"))).toEqual(["1", "2"]);
  });
});
