// The audit search's people picker, its pure part: which of the organization's staff
// match what is typed, and how each is named.

import { roleName } from "../messages";

/** A member of staff as `GET /audit/people` lists them (never a patient). */
export interface Person {
  id: string;
  display_name: string;
  role: string;
  is_active: boolean;
}

/** How a person is named in the picker: name, role, and whether they have left. */
export function personLabel(person: Person): string {
  const left = person.is_active ? "" : " (deactivated)";
  return `${person.display_name} — ${roleName(person.role)}${left}`;
}

/** The people whose name (or role) holds every word typed, whatever the case or accents,
 * in the server's order; `keep` (the person already chosen) always stays. */
export function matchingPeople(people: readonly Person[], typed: string, keep = ""): Person[] {
  const words = fold(typed).split(/\s+/).filter(Boolean);
  return people.filter((person) => {
    if (person.id === keep) return true;
    const text = fold(personLabel(person));
    return words.every((word) => text.includes(word));
  });
}

function fold(text: string): string {
  return text.normalize("NFD").replace(/\p{Diacritic}/gu, "").toLowerCase();
}
