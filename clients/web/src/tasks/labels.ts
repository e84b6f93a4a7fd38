// Words for a task on screen: who has it, whose patient, when it is due.

import { patientName } from "../care/labels";
import { patients } from "../care/store";
import { when } from "../ui";
import { nameOf } from "./store";
import { QUEUE_NAMES, type Task } from "./types";

export function personName(userId: string | null, me: { id: string }): string {
  if (userId === null) return "Huddle";
  if (userId === me.id) return "you";
  return nameOf(userId) ?? "a colleague";
}

export function assigneeLabel(task: Task, me: { id: string }): string {
  if (task.assignee_user_id !== null) return personName(task.assignee_user_id, me);
  const queue = task.assignee_role === null ? undefined : QUEUE_NAMES[task.assignee_role];
  return queue === undefined ? "nobody yet" : `${queue} (queue)`;
}

export function taskPatient(task: Task): string {
  return patientName(patients.value[task.patient_id], task.patient_id);
}

export function taskTitle(task: Task): string {
  return task.withheld ? "Withheld (restricted record)" : (task.title ?? "Task");
}

export function dueLabel(task: Task): string {
  return task.due_at === null ? "No due time" : `Due ${when(task.due_at)}`;
}
