// Find a patient by exact MRN or phone (compliance officers may not browse patients) and
// hand their record id to the form around it.

import { useState } from "preact/hooks";

import { describeError } from "../messages";
import { api } from "../session";
import { Alert } from "../ui";
import { type PatientMatch, findPatients } from "./api";
import { isUuid } from "./auditQuery";

const NOT_FOUND =
  "No patient has that MRN or phone number. (A 42 CFR Part 2 record is found by its record id.)";

export interface ChosenPatient {
  id: string;
  label: string;
}

export function PatientLookup(props: {
  /** Prefix for element ids, unique on the page. */
  idPrefix: string;
  chosen: ChosenPatient | null;
  onChoose: (patient: ChosenPatient | null) => void;
}) {
  const { idPrefix, chosen, onChoose } = props;
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);

  const choose = (patient: ChosenPatient) => {
    onChoose(patient);
    setText("");
  };

  const find = async () => {
    const value = text.trim();
    if (busy || !value) return;
    setMessage(null);
    setAttempt((n) => n + 1);
    if (isUuid(value)) {
      // A record id (copied from an event): the way to a 42 CFR Part 2 patient, whom
      // compliance officers cannot look up by MRN or phone.
      choose({ id: value.toLowerCase(), label: `record ${value.toLowerCase()}` });
      return;
    }
    setBusy(true);
    try {
      const found = await findPatients(api, value);
      const [first] = found;
      if (found.length === 1 && first) {
        choose({ id: first.id, label: describePatient(first) });
      } else {
        setMessage(found.length === 0 ? NOT_FOUND : "More than one patient matches; use the MRN.");
      }
    } catch (error) {
      setMessage(describeError(error));
    } finally {
      setBusy(false);
    }
  };

  if (chosen !== null) {
    return (
      <div class="field chosen">
        <p>
          Patient: <strong>{chosen.label}</strong>
        </p>
        <button type="button" class="secondary" onClick={() => onChoose(null)}>
          Any patient
        </button>
      </div>
    );
  }
  return (
    <div class="field">
      <label for={`${idPrefix}-patient`}>Patient MRN or phone</label>
      <div class="inline-field">
        <input
          id={`${idPrefix}-patient`}
          value={text}
          maxLength={40}
          autocomplete="off"
          spellcheck={false}
          aria-describedby={`${idPrefix}-patient-hint`}
          onInput={(e) => setText(e.currentTarget.value)}
          onKeyDown={(e) => {
            // Enter looks the patient up instead of submitting the whole form.
            if (e.key === "Enter") {
              e.preventDefault();
              void find();
            }
          }}
        />
        <button type="button" class="secondary" onClick={find} aria-busy={busy}>
          {busy ? "Finding…" : "Find patient"}
        </button>
      </div>
      <p class="hint" id={`${idPrefix}-patient-hint`}>
        The exact MRN or phone number, or a patient record id. Leave empty for every patient.
      </p>
      {message && <Alert key={attempt}>{message}</Alert>}
    </div>
  );
}

function describePatient(patient: PatientMatch): string {
  return `${patient.full_name} (MRN ${patient.mrn}, born ${patient.date_of_birth})`;
}
