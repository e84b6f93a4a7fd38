// The task calls the screens make (docs/api.md, Tasks). Each applies the server's answer
// to the store at once; the live frame that follows merges into the same state.

import { api } from "../session";
import { applyTasks } from "./store";
import type { Task, TaskDetail, TaskKind, TaskPriority, TaskStatus } from "./types";

export interface NewTask {
  title: string;
  kind: TaskKind;
  details: string | null;
  /** A person, a role queue, or neither (the creator's own task). */
  assignee_user_id: string | null;
  assignee_role: string | null;
  priority: TaskPriority;
  due_at: string | null;
}

async function applied<T extends Task>(answer: Promise<T>): Promise<T> {
  const task = await answer;
  applyTasks([task]);
  return task;
}

export function taskFromMessage(messageId: string, draft: NewTask): Promise<Task> {
  const body = Object.fromEntries(Object.entries(draft).filter(([, value]) => value !== null));
  return applied(
    api.request<Task>("POST", `/api/v1/messages/${messageId}/task`, { auth: true, body }),
  );
}

export function startWarmHandoff(
  patientId: string,
  conversationId: string | null,
  note: string,
): Promise<Task> {
  const body = {
    patient_id: patientId,
    ...(conversationId === null ? {} : { conversation_id: conversationId }),
    ...(note.trim() === "" ? {} : { note: note.trim() }),
  };
  return applied(api.request<Task>("POST", "/api/v1/tasks/warm-handoffs", { auth: true, body }));
}

export function claimTask(taskId: string): Promise<Task> {
  return applied(api.request<Task>("POST", `/api/v1/tasks/${taskId}/claim`, { auth: true }));
}

export function changeStatus(taskId: string, status: TaskStatus, reason?: string): Promise<Task> {
  const body = reason === undefined ? { status } : { status, reason };
  return applied(
    api.request<Task>("POST", `/api/v1/tasks/${taskId}/status`, { auth: true, body }),
  );
}

/** `passive`: read again by itself because a frame changed the task (not activity). */
export function readTask(taskId: string, passive = false): Promise<TaskDetail> {
  return applied(
    api.request<TaskDetail>("GET", `/api/v1/tasks/${taskId}`, { auth: true, passive }),
  );
}

export function addComment(taskId: string, text: string): Promise<TaskDetail> {
  return applied(
    api.request<TaskDetail>("POST", `/api/v1/tasks/${taskId}/comments`, {
      auth: true,
      body: { body: text },
    }),
  );
}
