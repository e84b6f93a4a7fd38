// What the care screens show, as signals, and the actions that change it. Everything
// here is PHI: `clearCareState` empties it all at sign-out and idle logoff.

import { signal } from "@preact/signals";

import { type ApiClient, ApiError } from "../api";
import { applyTasks, clearTasks, reloadTasks, startTasks, tasksLive } from "../tasks/store";
import {
  Realtime,
  type ConnectionStatus,
  type RealtimeHandlers,
  type Surroundings,
} from "./realtime";
import {
  EMPTY_THREAD,
  type ThreadState,
  addPending,
  applyMessages,
  noteTyping,
} from "./threadState";
import type {
  Conversation,
  Message,
  Patient,
  PendingMessage,
  Priority,
  Referral,
} from "./types";

export const conversations = signal<Conversation[]>([]);
export const patients = signal<Record<string, Patient>>({});
/** Referrals by conversation id. */
export const referrals = signal<Record<string, Referral>>({});
export const threads = signal<Record<string, ThreadState>>({});
export const connection = signal<ConnectionStatus>("stopped");
/** A message the server refused to take, to show next to the compose box. */
export const sendRefusal = signal<string | null>(null);

const OVERVIEW_DEBOUNCE_MS = 250;
/** A read the page makes by itself: not activity for the idle timeout. */
const PASSIVE = { auth: true, passive: true } as const;
const HISTORY_PAGE = 100;

let api: ApiClient | null = null;
let realtime: Realtime | null = null;
let overviewTimer: ReturnType<typeof setTimeout> | null = null;
/** Threads read over REST while the socket was not live. A message sent between that read
 * and the socket's starting point (its `ready`) is in neither, so each is read again once
 * the socket is live: from then on the REST page and the live frames overlap. */
const readBeforeLive = new Set<string>();

export interface CareSession {
  api: ApiClient;
  /** Ends the session on this page (the socket found it over). */
  onSessionEnded(code: string): void;
  onActivity(): void;
  /** Whether this person sees patient records and referrals (staff), or only threads. */
  staff: boolean;
  /** The browser around the socket; tests pass a fake. */
  around?: Surroundings;
}

let session: CareSession | null = null;

/** Load the overview and go live. */
export async function startCare(care: CareSession): Promise<void> {
  session = care;
  api = care.api;
  realtime = new Realtime(handlers(), care.around);
  realtime.start();
  if (care.staff) startTasks(care.api);
  await loadOverview();
}

/** Forget every conversation, message and patient, and close the socket. */
export function clearCareState(): void {
  realtime?.stop();
  realtime = null;
  clearTasks();
  api = null;
  session = null;
  if (overviewTimer !== null) clearTimeout(overviewTimer);
  readBeforeLive.clear();
  conversations.value = [];
  patients.value = {};
  referrals.value = {};
  threads.value = {};
  sendRefusal.value = null;
  connection.value = "stopped";
}

/** Read the conversation list, patients and referrals again. Passive (not activity):
 * the page does this by itself after live events, at start, and after an action that
 * already counted. */
export async function loadOverview(): Promise<void> {
  const client = requireApi();
  const list = await client.request<{ conversations: Conversation[] }>(
    "GET",
    "/api/v1/conversations",
    PASSIVE,
  );
  if (api !== client) return; // signed out meanwhile
  conversations.value = list.conversations;
  if (!session?.staff) return;
  const [found, sent] = await Promise.all([
    client.request<{ patients: Patient[] }>("GET", "/api/v1/patients", PASSIVE),
    client.request<{ referrals: Referral[] }>("GET", "/api/v1/referrals", PASSIVE),
  ]);
  if (api !== client) return;
  patients.value = Object.fromEntries(found.patients.map((p) => [p.id, p]));
  referrals.value = Object.fromEntries(sent.referrals.map((r) => [r.conversation_id, r]));
}

/** The latest page of a thread, merged with whatever arrived live meanwhile (by id, the
 * higher revision winning, so the order of the two never matters). `passive`: the page
 * reads it by itself (not activity); opening the thread is the person's doing. */
export async function loadThread(conversationId: string, passive = false): Promise<void> {
  const client = requireApi();
  if (connection.value !== "live") readBeforeLive.add(conversationId);
  const page = await client.request<{ messages: Message[] }>(
    "GET",
    `/api/v1/conversations/${conversationId}/messages?limit=${HISTORY_PAGE}`,
    { auth: true, passive },
  );
  if (api === client) updateThread(conversationId, (t) => applyMessages(t, page.messages));
}

export function sendMessage(
  conversationId: string,
  body: string,
  priority: Priority,
  replyToSeq: number | null,
): void {
  const message: PendingMessage = {
    client_msg_id: crypto.randomUUID(),
    conversation_id: conversationId,
    body,
    priority,
    reply_to_seq: replyToSeq,
  };
  sendRefusal.value = null;
  updateThread(conversationId, (t) => addPending(t, message));
  realtime?.send(message);
}

export function markRead(conversationId: string, seq: number): void {
  const conversation = conversations.value.find((c) => c.id === conversationId);
  if (conversation !== undefined && conversation.unread > 0) {
    conversations.value = conversations.value.map((c) =>
      c.id === conversationId ? { ...c, unread: 0 } : c,
    );
  }
  realtime?.markRead(conversationId, seq);
}

export function signalTyping(conversationId: string): void {
  realtime?.typing(conversationId);
}

/** Apply a message the REST API returned (an edit or a redaction) at once. */
export function applyMessage(message: Message): void {
  updateThread(message.conversation_id, (t) => applyMessages(t, [message]));
}

export function threadOf(conversationId: string): ThreadState {
  return threads.value[conversationId] ?? EMPTY_THREAD;
}

function updateThread(conversationId: string, change: (t: ThreadState) => ThreadState): void {
  const current = threadOf(conversationId);
  const next = change(current);
  if (next !== current) threads.value = { ...threads.value, [conversationId]: next };
}

function refreshOverviewSoon(): void {
  if (overviewTimer !== null) clearTimeout(overviewTimer);
  overviewTimer = setTimeout(() => {
    overviewTimer = null;
    if (api !== null) loadOverview().catch(() => {});
  }, OVERVIEW_DEBOUNCE_MS);
}

function handlers(): RealtimeHandlers {
  return {
    onMessage(message) {
      updateThread(message.conversation_id, (t) => applyMessages(t, [message]));
      refreshOverviewSoon(); // unread counts and last activity, as the server has them
    },
    onReceipt(conversationId, userId, readSeq) {
      conversations.value = conversations.value.map((c) =>
        c.id !== conversationId
          ? c
          : {
              ...c,
              participants: c.participants.map((p) =>
                p.user_id === userId ? { ...p, read_seq: Math.max(p.read_seq, readSeq) } : p,
              ),
            },
      );
    },
    onTyping(conversationId, userId) {
      updateThread(conversationId, (t) => noteTyping(t, userId, Date.now()));
    },
    onTask: (task) => applyTasks([task]),
    onTasksReset: (revision) => void reloadTasks(revision).catch(() => {}),
    onOverviewChanged: refreshOverviewSoon,
    onStatus(status) {
      connection.value = status;
      if (status !== "live") return;
      if (session?.staff) tasksLive();
      for (const id of readBeforeLive) loadThread(id, true).catch(() => {});
      readBeforeLive.clear();
    },
    onSendRefused(clientMsgId, detail) {
      const updated = Object.fromEntries(
        Object.entries(threads.value).map(([id, t]) => [
          id,
          { ...t, pending: t.pending.filter((p) => p.client_msg_id !== clientMsgId) },
        ]),
      );
      threads.value = updated;
      sendRefusal.value = detail;
    },
    async refreshSession() {
      try {
        await requireApi().refresh();
      } catch (error) {
        if (error instanceof ApiError && error.endsSession) session?.onSessionEnded(error.code);
        throw error;
      }
    },
    onSessionEnded: (code) => session?.onSessionEnded(code),
    onActivity: () => session?.onActivity(),
  };
}

function requireApi(): ApiClient {
  if (api === null) throw new Error("the care screens need a signed-in session");
  return api;
}
