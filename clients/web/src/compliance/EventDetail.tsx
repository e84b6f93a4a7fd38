// One audit event in full, in a modal dialog (Escape or "Close" returns to the list).

import { useEffect, useRef } from "preact/hooks";

import { roleName } from "../messages";
import type { AuditEvent } from "./api";
import { formatTime, humanize } from "./auditQuery";

export interface DetailActions {
  /** Search again for this person's events. */
  onOnlyActor?: (event: AuditEvent) => void;
  /** Search again for events about this patient. */
  onOnlyPatient?: (event: AuditEvent) => void;
}

export function EventDetail(props: { event: AuditEvent; onClose: () => void } & DetailActions) {
  const { event, onClose, onOnlyActor, onOnlyPatient } = props;
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const element = dialog.current;
    element?.showModal();
    return () => element?.close();
  }, []);

  const rows: [string, string | null][] = [
    ["When", formatTime(event.at)],
    ["Who", event.actor_name],
    ["Role", event.actor_role && roleName(event.actor_role)],
    ["User id", event.actor_user_id],
    ["Action", humanize(event.action)],
    ["Outcome", humanize(event.outcome)],
    [
      "Resource",
      event.resource_id ? `${event.resource_type} ${event.resource_id}` : event.resource_type,
    ],
    ["Patient record", event.patient_id],
    ["Reason given", event.reason],
    ["Source address", event.source_ip],
    ["Browser or app", event.user_agent],
    ["Request id", event.request_id],
    ...Object.entries(event.detail).map(([name, value]): [string, string] => [
      humanize(name),
      value,
    ]),
    ["Hash", event.hash],
  ];
  return (
    <dialog
      ref={dialog}
      class="event-detail"
      aria-labelledby="event-detail-title"
      onClose={onClose}
    >
      <h2 id="event-detail-title">Audit event #{event.seq}</h2>
      <dl class="facts">
        {rows
          .filter((row): row is [string, string] => row[1] !== null && row[1] !== "")
          .map(([name, value]) => (
            <div key={name}>
              <dt>{name}</dt>
              <dd class="wrap-anywhere">{value}</dd>
            </div>
          ))}
      </dl>
      <div class="actions">
        {onOnlyActor && event.actor_user_id && (
          <button type="button" class="secondary" onClick={() => onOnlyActor(event)}>
            Only this person's events
          </button>
        )}
        {onOnlyPatient && event.patient_id && (
          <button type="button" class="secondary" onClick={() => onOnlyPatient(event)}>
            Only this patient's events
          </button>
        )}
        <button type="button" onClick={() => dialog.current?.close()}>
          Close
        </button>
      </div>
    </dialog>
  );
}
