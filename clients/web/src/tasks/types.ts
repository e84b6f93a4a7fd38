// Shapes of the tasks API answers (docs/api.md, Tasks) and the words for them.

import type { Role } from "../api";

export type TaskKind =
  | "follow_up"
  | "call_patient"
  | "schedule"
  | "med_review"
  | "screening"
  | "psych_consult_review"
  | "warm_handoff"
  | "other";
export type TaskPriority = "routine" | "high" | "urgent";
export type TaskStatus = "open" | "accepted" | "in_progress" | "done" | "cancelled" | "declined";

export interface Task {
  id: string;
  patient_id: string;
  referral_id: string | null;
  conversation_id: string | null;
  source_message_id: string | null;
  kind: TaskKind;
  title: string | null;
  details: string | null;
  created_by: string;
  assignee_user_id: string | null;
  assignee_role: Role | null;
  priority: TaskPriority;
  due_at: string | null;
  status: TaskStatus;
  status_reason: string | null;
  revision: number;
  last_change: string;
  created_at: string;
  updated_at: string;
  accepted_at: string | null;
  time_to_accept_seconds: number | null;
  overdue: boolean;
  escalations: number;
  withheld: boolean;
}

export interface TaskQuote {
  message_id: string;
  conversation_id: string;
  seq: number;
  sender_id: string | null;
  body: string | null;
  withheld: boolean;
}

export interface TaskComment {
  id: string;
  author_id: string;
  body: string | null;
  created_at: string;
}

export interface TaskEvent {
  change: string;
  actor_user_id: string | null;
  from_status: TaskStatus | null;
  to_status: TaskStatus | null;
  assignee_user_id: string | null;
  assignee_role: string | null;
  reason: string | null;
  at: string;
}

/** One task as `GET /tasks/{id}` shows it. */
export interface TaskDetail extends Task {
  source: TaskQuote | null;
  comments: TaskComment[];
  history: TaskEvent[];
}

export interface TaskList {
  tasks: Task[];
  count: number;
  counts: Record<string, number>;
}

export interface CareTeam {
  patient_id: string;
  members: { user_id: string; display_name: string; team_role: string }[];
}

export const KIND_NAMES: Record<TaskKind, string> = {
  follow_up: "Follow-up",
  call_patient: "Call patient",
  schedule: "Schedule",
  med_review: "Medication review",
  screening: "Screening",
  psych_consult_review: "Psychiatric consult review",
  warm_handoff: "Warm handoff",
  other: "Other",
};

export const PRIORITY_NAMES: Record<TaskPriority, string> = {
  routine: "Routine",
  high: "High",
  urgent: "Urgent",
};

export const TASK_STATUS_NAMES: Record<TaskStatus, string> = {
  open: "Open",
  accepted: "Accepted",
  in_progress: "In progress",
  done: "Done",
  cancelled: "Cancelled",
  declined: "Declined",
};

/** The role queues a task can wait in ("care managers of this clinic"). */
export const QUEUE_NAMES: Partial<Record<Role, string>> = {
  care_manager: "Care managers",
  bh_clinician: "Behavioral-health clinicians",
  psychiatrist: "Consulting psychiatrists",
  pcp: "Primary-care providers",
};
