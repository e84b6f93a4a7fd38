// Shapes of the care-team API answers the screens use (docs/api.md).

import type { Role } from "../api";

export type Priority = "routine" | "urgent";
export type MessageKind = "user" | "system" | "auto_reply";

export interface Message {
  id: string;
  conversation_id: string;
  seq: number;
  revision: number;
  sender_id: string | null;
  kind: MessageKind;
  priority: Priority;
  body: string | null;
  reply_to_seq: number | null;
  client_msg_id: string | null;
  version: number;
  created_at: string;
  edited_at: string | null;
  redacted_at: string | null;
  withheld?: boolean;
}

export interface Participant {
  user_id: string;
  display_name: string;
  role: Role;
  read_seq: number;
}

export interface Conversation {
  id: string;
  kind: "referral" | "patient" | "staff";
  patient_id: string | null;
  referral_id: string | null;
  last_seq: number;
  last_revision: number;
  last_activity_at: string;
  unread: number;
  participants: Participant[];
}

export type ReferralStatus = "sent" | "accepted" | "scheduled" | "in_care" | "closed" | "declined";
export type ReferralUrgency = "routine" | "soon" | "urgent";
export type ReceivingService = "behavioral_health" | "psychiatry" | "care_management";

export interface Referral {
  id: string;
  patient_id: string;
  conversation_id: string;
  receiving_service: ReceivingService;
  reason: string;
  urgency: ReferralUrgency;
  warm_handoff: boolean;
  status: ReferralStatus;
  decline_reason: string | null;
  created_at: string;
}

export interface Patient {
  id: string;
  full_name: string;
  date_of_birth: string;
  mrn: string;
}

export interface Attachment {
  id: string;
  filename: string;
  media_type: string;
  size: number;
  uploader_id: string;
  created_at: string;
}

export interface HistoryVersion {
  version: number;
  body: string | null;
  replaced_at: string;
}

export interface AccessLogEntry {
  at: string;
  who: string;
  role: string | null;
  action: string;
  resource_type: string;
}

/** A message typed here and not yet confirmed by the server. */
export interface PendingMessage {
  client_msg_id: string;
  conversation_id: string;
  body: string;
  priority: Priority;
  reply_to_seq: number | null;
}

/** Next statuses a referral may move to (docs/api.md, Referrals). */
export const NEXT_STATUSES: Record<ReferralStatus, ReferralStatus[]> = {
  sent: ["accepted", "declined"],
  accepted: ["scheduled", "declined"],
  scheduled: ["in_care", "declined"],
  in_care: ["closed"],
  closed: [],
  declined: [],
};
