// The audit search's user filter: the organization's staff by name. Native controls, so
// the keyboard works as everywhere: type part of a name, Enter picks the only match (or
// moves to the list), arrow keys choose in the list.

import { useRef, useState } from "preact/hooks";

import { type Person, matchingPeople, personLabel } from "./people";

export function PersonPicker(props: {
  /** Prefix for element ids, unique on the page. */
  idPrefix: string;
  people: readonly Person[];
  /** The chosen user id, "" for anyone. */
  value: string;
  onChange: (userId: string) => void;
}) {
  const { idPrefix, people, value, onChange } = props;
  const [typed, setTyped] = useState("");
  const list = useRef<HTMLSelectElement>(null);
  const matches = matchingPeople(people, typed);
  const shown = matchingPeople(people, typed, value); // the chosen person stays listed
  const count =
    typed.trim() === ""
      ? `${people.length} ${people.length === 1 ? "person" : "people"} in your organization.`
      : `${matches.length} of ${people.length} match.`;

  return (
    <div class="field person-picker">
      <label for={`${idPrefix}-person-name`}>Find a person by name</label>
      <input
        id={`${idPrefix}-person-name`}
        type="search"
        value={typed}
        maxLength={100}
        autocomplete="off"
        spellcheck={false}
        aria-controls={`${idPrefix}-person`}
        aria-describedby={`${idPrefix}-person-count`}
        onInput={(e) => setTyped(e.currentTarget.value)}
        onKeyDown={(e) => {
          // Enter picks the one match instead of submitting the whole form.
          if (e.key !== "Enter") return;
          e.preventDefault();
          const [only, ...more] = matches;
          if (only !== undefined && more.length === 0) onChange(only.id);
          list.current?.focus();
        }}
      />
      <p class="hint" id={`${idPrefix}-person-count`} aria-live="polite">
        {count}
      </p>
      <label for={`${idPrefix}-person`}>User</label>
      <select
        id={`${idPrefix}-person`}
        ref={list}
        value={value}
        onChange={(e) => onChange(e.currentTarget.value)}
      >
        <option value="">Anyone</option>
        {shown.map((person) => (
          <option key={person.id} value={person.id}>
            {personLabel(person)}
          </option>
        ))}
      </select>
    </div>
  );
}
