import { useState } from "preact/hooks";

import { SERVICE_NAMES, STATUS_NAMES } from "../care/labels";
import { loadOverview } from "../care/store";
import { NEXT_STATUSES, type Referral, type ReferralStatus } from "../care/types";
import { describeError } from "../messages";
import { api } from "../session";
import { Alert } from "../ui";

/** A referral's facts and the status changes it may take next. */
export function ReferralPanel({ referral }: { referral: Referral }) {
  const [declineReason, setDeclineReason] = useState("");
  const [error, setError] = useState<string | null>(null);
  const next = NEXT_STATUSES[referral.status];

  const change = async (status: ReferralStatus) => {
    setError(null);
    try {
      await api.request("POST", `/api/v1/referrals/${referral.id}/status`, {
        auth: true,
        body: status === "declined" ? { status, decline_reason: declineReason } : { status },
      });
      await loadOverview();
    } catch (failure) {
      setError(describeError(failure));
    }
  };

  return (
    <section class="referral" aria-labelledby="referral-title">
      <h2 id="referral-title">Referral to {SERVICE_NAMES[referral.receiving_service]}</h2>
      <dl class="facts">
        <div>
          <dt>Status</dt>
          <dd>{STATUS_NAMES[referral.status]}</dd>
        </div>
        <div>
          <dt>Urgency</dt>
          <dd>{referral.urgency}</dd>
        </div>
        <div>
          <dt>Reason</dt>
          <dd>{referral.reason}</dd>
        </div>
        {referral.decline_reason && (
          <div>
            <dt>Declined because</dt>
            <dd>{referral.decline_reason}</dd>
          </div>
        )}
      </dl>
      {error && <Alert>{error}</Alert>}
      {next.length > 0 && (
        <div class="referral-actions">
          {next.includes("declined") && (
            <div class="field">
              <label for="decline-reason">Reason, if declining</label>
              <input
                id="decline-reason"
                value={declineReason}
                onInput={(e) => setDeclineReason(e.currentTarget.value)}
              />
            </div>
          )}
          {next.map((status) => (
            <button
              key={status}
              type="button"
              class={status === "declined" ? "secondary" : ""}
              onClick={() => change(status)}
            >
              Mark {STATUS_NAMES[status].toLowerCase()}
            </button>
          ))}
        </div>
      )}
    </section>
  );
}
