// The worklist's pure rules: merging tasks that arrive from REST pages and live frames
// (in any order, possibly twice), the sections a person sees, and what they may do
// with a task. Unit-tested in worklist.test.ts.

import { ApiError, type Role } from "../api";
import { describeError } from "../messages";
import type { Task, TaskEvent, TaskStatus } from "./types";

export type TaskMap = Readonly<Record<string, Task>>;

const ACTIVE: ReadonlySet<TaskStatus> = new Set(["open", "accepted", "in_progress"]);

export function isActive(task: Task): boolean {
  return ACTIVE.has(task.status);
}

/** Keep, per task id, the copy with the highest revision: a late or repeated copy never
 * undoes a newer change. Returns `tasks` itself when nothing changed. */
export function mergeTasks(tasks: TaskMap, incoming: readonly Task[]): TaskMap {
  let next: Record<string, Task> | null = null;
  for (const task of incoming) {
    const current = (next ?? tasks)[task.id];
    if (current !== undefined && current.revision >= task.revision) continue;
    next ??= { ...tasks };
    next[task.id] = task;
  }
  return next ?? tasks;
}

/** The tasks of `tasks` changed after `revision` (what live frames brought since). */
export function changedAfter(tasks: TaskMap, revision: number): TaskMap {
  return Object.fromEntries(Object.entries(tasks).filter(([, task]) => task.revision > revision));
}

export interface Me {
  id: string;
  role: Role;
}

export interface Sections {
  /** Active tasks assigned to me. */
  mine: Task[];
  /** Unclaimed tasks waiting in my role's queue. */
  queue: Task[];
  /** Active tasks I can see that are past their due time. */
  overdue: Task[];
  /** Tasks I asked of someone else, still active or finished in the last day. */
  asked: Task[];
}

const RECENT_MS = 24 * 60 * 60 * 1000;

export function isOverdue(task: Task, now: number): boolean {
  const pastDue = task.due_at !== null && Date.parse(task.due_at) < now;
  return isActive(task) && (task.overdue || pastDue);
}

export function inMyQueue(task: Task, me: Me): boolean {
  return task.status === "open" && task.assignee_user_id === null && task.assignee_role === me.role;
}

export function sections(tasks: TaskMap, me: Me, now: number): Sections {
  const all = Object.values(tasks).sort(soonestDueFirst);
  return {
    mine: all.filter((t) => t.assignee_user_id === me.id && isActive(t)),
    queue: all.filter((t) => inMyQueue(t, me)),
    overdue: all.filter((t) => isOverdue(t, now)),
    asked: all.filter(
      (t) =>
        t.created_by === me.id &&
        t.assignee_user_id !== me.id &&
        (isActive(t) || now - Date.parse(t.updated_at) < RECENT_MS),
    ),
  };
}

/** Soonest due first, undated last, then oldest first (as the server lists them). */
export function soonestDueFirst(a: Task, b: Task): number {
  const due = (t: Task) => (t.due_at === null ? Infinity : Date.parse(t.due_at));
  return due(a) - due(b) || Date.parse(a.created_at) - Date.parse(b.created_at);
}

export type Action = "claim" | "accept" | "start" | "complete" | "decline" | "cancel";

/** What this person may do with the task now (the server decides again). */
export function actionsFor(task: Task, me: Me): Action[] {
  if (inMyQueue(task, me)) return ["claim"];
  // Back with me, the PCP who asked: I reach behavioral health another way, then cancel it.
  if (isReturnedHandoff(task)) return task.created_by === me.id ? ["cancel"] : [];
  const actions: Action[] = [];
  if (task.assignee_user_id === me.id) {
    if (task.status === "open") actions.push("accept", "decline");
    if (task.status === "accepted") actions.push("start", "complete", "decline");
    if (task.status === "in_progress") actions.push("complete");
  }
  if (task.created_by === me.id && isActive(task) && task.assignee_user_id !== me.id) {
    actions.push("cancel");
  }
  return actions;
}

/** The status each action asks for (claim has its own endpoint). */
export const ACTION_STATUS: Record<Exclude<Action, "claim">, TaskStatus> = {
  accept: "accepted",
  start: "in_progress",
  complete: "done",
  decline: "declined",
  cancel: "cancelled",
};

export const CLAIMED_BY_SOMEONE_ELSE =
  "Someone else claimed this task first: it is on their worklist now.";

export function describeTaskError(error: unknown): string {
  if (error instanceof ApiError && error.code === "already_claimed") return CLAIMED_BY_SOMEONE_ELSE;
  return describeError(error);
}

/** A warm handoff waiting for my answer (the prompt), oldest first: open, mine, and not
 * one that came back to me as the PCP who asked. */
export function handoffsAwaitingMe(tasks: TaskMap, me: Me): Task[] {
  return Object.values(tasks)
    .filter(
      (t) =>
        t.kind === "warm_handoff" &&
        t.status === "open" &&
        t.assignee_user_id === me.id &&
        !isReturnedHandoff(t),
    )
    .sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at));
}

/** A warm handoff no consultant took, back with the PCP who asked (the server assigns it
 * to its creator, flagged overdue; docs/tasks.md). */
export function isReturnedHandoff(task: Task): boolean {
  const withTheAsker = task.assignee_user_id === task.created_by;
  return task.kind === "warm_handoff" && isActive(task) && withTheAsker;
}

/** Why a warm handoff came back to the PCP with no consultant left to try (its history
 * says): the last one declined, or did not answer in time; and the last reason given. */
export interface NobodyLeft {
  declined: boolean;
  lastReason: string | null;
}

export function whyNobodyLeft(history: readonly TaskEvent[]): NobodyLeft {
  const newestFirst = [...history].reverse();
  const returned = newestFirst.find((event) => event.change === "returned");
  const declined = newestFirst.find((event) => event.to_status === "declined");
  return {
    declined: returned?.from_status === "declined",
    lastReason: declined?.reason ?? null,
  };
}

/** The PCP's words for a warm handoff no consultant took: what happened, and what to do
 * now (the patient is still waiting). `why` is null until the history has been read. */
export function nobodyLeftWords(task: Task, why: NobodyLeft | null): string {
  const asked = task.escalations + 1;
  const everyone =
    asked === 1 ? "The only consultant" : asked === 2 ? "Both consultants" : `All ${asked} consultants`;
  const happened = why?.declined
    ? `${everyone} declined this warm handoff`
    : `No consultant accepted this warm handoff${why === null ? "" : " in time"} (${asked} asked)`;
  const reason = why?.lastReason ? ` Last reason given: “${why.lastReason}”.` : "";
  return (
    `${happened}, and no other consultant is available.${reason} The patient is still ` +
    "waiting: reach behavioral health another way (call the on-call clinician) or make a " +
    "follow-up task, then cancel this handoff on your worklist."
  );
}

/** A `datetime-local` value (the browser's local time) as UTC ISO-8601; "" is no time. */
export function localToIso(value: string): string | null {
  if (value === "") return null;
  const at = new Date(value);
  return Number.isNaN(at.getTime()) ? null : at.toISOString();
}

const TITLE_LENGTH = 80;

/** A title prefilled from a message: its first line, shortened. */
export function titleFrom(body: string | null): string {
  const line = (body ?? "").trim().split("\n", 1)[0]!.trim();
  return line.length <= TITLE_LENGTH ? line : `${line.slice(0, TITLE_LENGTH - 1).trimEnd()}…`;
}
