// Words for care-team things: services, statuses, thread titles.

import type { Conversation, Patient, ReceivingService, Referral, ReferralStatus } from "./types";

export const SERVICE_NAMES: Record<ReceivingService, string> = {
  behavioral_health: "Behavioral health",
  psychiatry: "Psychiatry",
  care_management: "Care management",
};

export const STATUS_NAMES: Record<ReferralStatus, string> = {
  sent: "Sent",
  accepted: "Accepted",
  scheduled: "Scheduled",
  in_care: "In care",
  closed: "Closed",
  declined: "Declined",
};

/** What a thread is about, without the patient's name (shown in the group heading). */
export function threadTitle(conversation: Conversation, referral: Referral | undefined): string {
  if (conversation.kind === "referral" && referral !== undefined) {
    return `Referral: ${SERVICE_NAMES[referral.receiving_service]}`;
  }
  if (conversation.kind === "patient") return "Thread with the patient";
  if (conversation.kind === "referral") return "Referral";
  return conversation.participants.map((p) => p.display_name).join(", ");
}

export function patientName(patient: Patient | undefined, patientId: string | null): string {
  if (patientId === null) return "Staff threads";
  return patient?.full_name ?? "Patient";
}

export function senderName(conversation: Conversation | undefined, senderId: string | null) {
  if (senderId === null) return "Huddle";
  return conversation?.participants.find((p) => p.user_id === senderId)?.display_name ?? "Someone";
}
