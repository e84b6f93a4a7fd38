import { useState } from "preact/hooks";

import { SERVICE_NAMES } from "../care/labels";
import { loadOverview, patients } from "../care/store";
import type { ReceivingService, Referral, ReferralUrgency } from "../care/types";
import { describeError } from "../messages";
import { navigate } from "../router";
import { api } from "../session";
import { Alert, useFocusOnMount } from "../ui";

export function ReferralForm() {
  const heading = useFocusOnMount<HTMLHeadingElement>();
  const choices = Object.values(patients.value).sort((a, b) =>
    a.full_name.localeCompare(b.full_name),
  );
  const [patientId, setPatientId] = useState("");
  const [service, setService] = useState<ReceivingService>("behavioral_health");
  const [urgency, setUrgency] = useState<ReferralUrgency>("routine");
  const [reason, setReason] = useState("");
  const [warmHandoff, setWarmHandoff] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      const referral = await api.request<Referral>("POST", "/api/v1/referrals", {
        auth: true,
        body: {
          patient_id: patientId,
          receiving_service: service,
          reason,
          urgency,
          warm_handoff: warmHandoff,
        },
      });
      await loadOverview();
      navigate(`/conversations/${referral.conversation_id}`);
    } catch (failure) {
      setError(describeError(failure));
      setBusy(false);
    }
  };

  return (
    <main class="page" aria-labelledby="referral-form-title">
      <h1 id="referral-form-title" ref={heading} tabIndex={-1}>
        New referral
      </h1>
      <form onSubmit={submit} aria-busy={busy}>
        <div class="field">
          <label for="referral-patient">Patient</label>
          <select
            id="referral-patient"
            required
            value={patientId}
            onChange={(e) => setPatientId(e.currentTarget.value)}
          >
            <option value="">Choose a patient</option>
            {choices.map((p) => (
              <option key={p.id} value={p.id}>
                {p.full_name} (MRN {p.mrn})
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="referral-service">Refer to</label>
          <select
            id="referral-service"
            value={service}
            onChange={(e) => setService(e.currentTarget.value as ReceivingService)}
          >
            {Object.entries(SERVICE_NAMES).map(([value, name]) => (
              <option key={value} value={value}>
                {name}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="referral-urgency">Urgency</label>
          <select
            id="referral-urgency"
            value={urgency}
            onChange={(e) => setUrgency(e.currentTarget.value as ReferralUrgency)}
          >
            <option value="routine">Routine</option>
            <option value="soon">Soon</option>
            <option value="urgent">Urgent</option>
          </select>
        </div>
        <div class="field">
          <label for="referral-reason">Reason</label>
          <textarea
            id="referral-reason"
            required
            maxLength={2000}
            value={reason}
            onInput={(e) => setReason(e.currentTarget.value)}
          />
        </div>
        <label class="checkbox">
          <input
            type="checkbox"
            checked={warmHandoff}
            onChange={(e) => setWarmHandoff(e.currentTarget.checked)}
          />
          Warm handoff (the patient is here now)
        </label>
        {error && <Alert>{error}</Alert>}
        <button type="submit">{busy ? "Sending…" : "Send referral"}</button>
      </form>
    </main>
  );
}
