// The state of one thread and the pure rules that merge what arrives into it. Messages
// come from several places (a page of history, live frames, a replay after reconnecting,
// the answer to our own send) in any order and possibly twice; merging by message id and
// keeping the highest revision makes the result the same whatever the order, so what is
// shown always equals what the server holds.

import type { Message, PendingMessage } from "./types";

export interface ThreadState {
  /** Confirmed messages, in seq order, one per id. */
  messages: Message[];
  /** Sent from this page and not yet seen back from the server, oldest first. */
  pending: PendingMessage[];
  /** Who is typing now: user id → until when (ms since epoch). */
  typing: Record<string, number>;
}

export const EMPTY_THREAD: ThreadState = { messages: [], pending: [], typing: {} };

/** Insert or replace messages by id; a lower revision never replaces a higher one. */
export function upsertMessages(current: readonly Message[], incoming: readonly Message[]): Message[] {
  if (incoming.length === 0) return current as Message[];
  const byId = new Map(current.map((m) => [m.id, m]));
  let changed = false;
  for (const message of incoming) {
    const known = byId.get(message.id);
    if (known === undefined || known.revision < message.revision) {
      byId.set(message.id, message);
      changed = true;
    }
  }
  if (!changed) return current as Message[];
  return [...byId.values()].sort((a, b) => a.seq - b.seq);
}

/** Merge confirmed messages; a pending message seen back (same client_msg_id) is done. */
export function applyMessages(state: ThreadState, incoming: readonly Message[]): ThreadState {
  const messages = upsertMessages(state.messages, incoming);
  const confirmed = new Set(incoming.map((m) => m.client_msg_id).filter((id) => id !== null));
  const pending = state.pending.filter((p) => !confirmed.has(p.client_msg_id));
  if (messages === state.messages && pending.length === state.pending.length) return state;
  return { ...state, messages, pending };
}

/** Add a message being sent (once per client_msg_id). */
export function addPending(state: ThreadState, message: PendingMessage): ThreadState {
  if (state.pending.some((p) => p.client_msg_id === message.client_msg_id)) return state;
  if (state.messages.some((m) => m.client_msg_id === message.client_msg_id)) return state;
  return { ...state, pending: [...state.pending, message] };
}

/** Someone is typing for the next `forMs` milliseconds. */
export function noteTyping(state: ThreadState, userId: string, now: number, forMs = 5000) {
  return { ...state, typing: { ...state.typing, [userId]: now + forMs } };
}

/** The users still typing at `now`. */
export function typingNow(state: ThreadState, now: number): string[] {
  return Object.entries(state.typing)
    .filter(([, until]) => until > now)
    .map(([userId]) => userId);
}

/** The highest seq shown, to mark as read. */
export function lastSeq(state: ThreadState): number {
  return state.messages.at(-1)?.seq ?? 0;
}
