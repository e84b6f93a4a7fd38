// The tasks this page knows, as signals: loaded from the worklist endpoints once the
// socket is live, then kept current by task.* frames (care/realtime.ts) merged by
// revision. PHI: `clearTasks` empties it at sign-out and idle logoff (via clearCareState).

import { signal } from "@preact/signals";

import type { ApiClient } from "../api";
import { conversations } from "../care/store";
import { type TaskMap, changedAfter, mergeTasks } from "./worklist";
import type { CareTeam, Task, TaskList } from "./types";

export const tasks = signal<TaskMap>({});
/** Care teams by patient id: the names of people tasks mention. */
export const careTeams = signal<Record<string, CareTeam>>({});
export const tasksLoaded = signal(false);
/** Said at the top of the worklist when a task left it (someone else claimed it first). */
export const taskNotice = signal<string | null>(null);

const PAGE = 200;

let api: ApiClient | null = null;
const teamsLoading = new Set<string>();

export function startTasks(client: ApiClient): void {
  api = client;
}

/** The socket is live. The first time, load the lists: only now, after `ready`, does a
 * list hold every task changed before the socket's starting point (loaded earlier, a
 * task made in between would be in neither). Later reconnects resume instead. */
export function tasksLive(): void {
  if (!tasksLoaded.value) loadTasks(true).catch(() => {}); // a failed load shows no tasks
}

/** Mine, my role's queue, and everything else I may see (overdue, what I asked for).
 * `passive` when the page loads them by itself (not activity for the idle timeout). */
export async function loadTasks(passive = false): Promise<void> {
  const client = requireApi();
  const listed = await fetchLists(client, passive);
  if (api !== client) return; // signed out meanwhile
  applyTasks(listed);
  tasksLoaded.value = true;
}

/** The socket was too far behind to replay (`tasks.reset` at `revision`): read the lists
 * again. A task they leave out has left my sight meanwhile, unless a frame newer than
 * the reset brought it. */
export async function reloadTasks(revision: number): Promise<void> {
  const client = requireApi();
  const listed = await fetchLists(client, true);
  if (api !== client) return;
  tasks.value = changedAfter(tasks.value, revision);
  applyTasks(listed);
  tasksLoaded.value = true;
}

async function fetchLists(client: ApiClient, passive: boolean): Promise<Task[]> {
  const lists = await Promise.all(
    ["assignee=me&", "assignee=role&", ""].map((filter) =>
      client.request<TaskList>("GET", `/api/v1/tasks?${filter}limit=${PAGE}`, {
        auth: true,
        passive,
      }),
    ),
  );
  return lists.flatMap((list) => list.tasks);
}

/** A task from a live frame or a REST answer. */
export function applyTasks(incoming: readonly Task[]): void {
  tasks.value = mergeTasks(tasks.value, incoming);
  for (const task of incoming) {
    const people = [task.created_by, task.assignee_user_id];
    if (people.some((id) => id !== null && nameOf(id) === null)) {
      void loadCareTeam(task.patient_id, true);
    }
  }
}

/** A task I may no longer see (claimed by someone else, reassigned away). */
export function forgetTask(taskId: string): void {
  const { [taskId]: _gone, ...rest } = tasks.value;
  tasks.value = rest;
}

export function clearTasks(): void {
  api = null;
  tasks.value = {};
  careTeams.value = {};
  tasksLoaded.value = false;
  taskNotice.value = null;
  teamsLoading.clear();
}

/** The patient's care team (names for the assignee picker and the task cards). A
 * refusal (not on the team yet) leaves what is known. `passive`: the page wants names
 * for a task that arrived (not activity). */
export async function loadCareTeam(patientId: string, passive = false): Promise<CareTeam | null> {
  const client = api;
  if (client === null || teamsLoading.has(patientId)) return careTeams.value[patientId] ?? null;
  teamsLoading.add(patientId);
  try {
    const team = await client.request<CareTeam>("GET", `/api/v1/patients/${patientId}/care-team`, {
      auth: true,
      passive,
    });
    if (api !== client) return null;
    careTeams.value = { ...careTeams.value, [patientId]: team };
    return team;
  } catch {
    return null;
  } finally {
    teamsLoading.delete(patientId);
  }
}

/** A colleague's name from the threads and care teams this page knows, else null. */
export function nameOf(userId: string): string | null {
  for (const conversation of conversations.value) {
    const found = conversation.participants.find((p) => p.user_id === userId);
    if (found) return found.display_name;
  }
  for (const team of Object.values(careTeams.value)) {
    const found = team.members.find((m) => m.user_id === userId);
    if (found) return found.display_name;
  }
  return null;
}

function requireApi(): ApiClient {
  if (api === null) throw new Error("tasks need a signed-in session");
  return api;
}
