// The browser's live connection: /api/v1/ws, authenticated by the session cookie on the
// upgrade (no token in any URL or frame). It keeps, per conversation, the highest
// revision applied (the cursor) and after any reconnect sends `resume` with those
// cursors, so the server replays exactly what was missed. Messages typed while the
// connection is down wait in an outbox keyed by client_msg_id and are sent again on
// reconnect; the server keeps one message per client_msg_id, so nothing doubles.
// Tasks have one cursor of their own (the organization's task revision), resumed the
// same way; a page too far behind is told `tasks.reset` and reads its lists again. Protocol: docs/realtime.md.

import type { Task } from "../tasks/types";
import type { Message, PendingMessage } from "./types";

export type ConnectionStatus = "connecting" | "live" | "offline" | "stopped";

export interface RealtimeHandlers {
  onMessage(message: Message): void;
  onReceipt(conversationId: string, userId: string, readSeq: number): void;
  onTyping(conversationId: string, userId: string): void;
  /** A task.created, task.assigned or task.updated frame (live or replayed). */
  onTask(task: Task): void;
  /** `tasks.reset`: too far behind to replay; read the task lists again. Frames after
   * `revision` follow as usual. */
  onTasksReset(revision: number): void;
  /** A referral changed, or conversations appeared that this page did not know. */
  onOverviewChanged(): void;
  onStatus(status: ConnectionStatus): void;
  onSendRefused(clientMsgId: string, detail: string): void;
  /** The access cookie expired: refresh it (rejects if the session is over). */
  refreshSession(): Promise<void>;
  onSessionEnded(code: string): void;
  /** A frame the person caused was sent (a message, typing): the server counts it as
   * activity. Resume and read receipts are the page's own doing and are not. */
  onActivity(): void;
}

type Frame = { type: string } & Record<string, unknown>;

/** The parts of a WebSocket this uses (tests pass a fake). */
export interface SocketLike {
  readonly readyState: number;
  onmessage: ((event: MessageEvent) => void) | null;
  onclose: ((event: CloseEvent) => void) | null;
  send(data: string): void;
  close(code?: number): void;
}

/** The browser around the socket: opening one, and whether the network is up. */
export interface Surroundings {
  open(url: string): SocketLike;
  online(): boolean;
  onNetworkChange(offline: () => void, online: () => void): () => void;
}

const OPEN = 1; // WebSocket.OPEN

const CLOSE_AUTH = 4401;
const CLOSE_ORIGIN = 4403;
const MAX_BACKOFF_MS = 5000;

export class Realtime {
  readonly #handlers: RealtimeHandlers;
  readonly #url: string;
  readonly #around: Surroundings;
  #stopListening: () => void = () => {};
  #socket: SocketLike | null = null;
  #cursors = new Map<string, number>();
  /** The highest task revision applied; null until the first `ready`. */
  #taskCursor: number | null = null;
  #outbox = new Map<string, PendingMessage>();
  #stopped = true;
  #backoffMs = 250;
  #retryTimer: ReturnType<typeof setTimeout> | null = null;
  #lastError = "";

  constructor(handlers: RealtimeHandlers, around: Surroundings = browser(), url = socketUrl()) {
    this.#handlers = handlers;
    this.#around = around;
    this.#url = url;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#stopListening = this.#around.onNetworkChange(this.#wentOffline, this.#cameOnline);
    this.#connect();
  }

  /** Close for good and forget everything (sign-out): nothing is kept for the next user. */
  stop(): void {
    this.#stopped = true;
    this.#stopListening();
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#socket?.close(1000);
    this.#socket = null;
    this.#cursors.clear();
    this.#taskCursor = null;
    this.#outbox.clear();
    this.#handlers.onStatus("stopped");
  }

  /** Send a message now if live, else as soon as the connection is back. */
  send(message: PendingMessage): void {
    this.#outbox.set(message.client_msg_id, message);
    this.#sendFrame(sendFrame(message));
  }

  /** A read receipt: sent by itself as messages arrive in the open thread, so marked
   * passive (opening the thread was the person's doing, and its REST read counted). */
  markRead(conversationId: string, seq: number): void {
    this.#sendFrame({ type: "read", conversation_id: conversationId, seq, passive: true }, true);
  }

  typing(conversationId: string): void {
    this.#sendFrame({ type: "typing", conversation_id: conversationId });
  }

  #connect(): void {
    if (this.#stopped || this.#socket !== null) return;
    if (!this.#around.online()) {
      this.#handlers.onStatus("offline");
      return;
    }
    this.#handlers.onStatus("connecting");
    this.#lastError = "";
    const socket = this.#around.open(this.#url);
    this.#socket = socket;
    socket.onmessage = (event) => this.#receive(JSON.parse(String(event.data)) as Frame);
    socket.onclose = (event) => void this.#closed(socket, event.code);
  }

  #receive(frame: Frame): void {
    switch (frame.type) {
      case "ready":
        this.#ready(
          frame["conversations"] as Record<string, number>,
          Number(frame["tasks"] ?? 0),
        );
        break;
      case "resumed":
        this.#live();
        break;
      case "message.created":
      case "message.updated": {
        const message = frame["message"] as Message;
        const conversationId = String(frame["conversation_id"]);
        const revision = Number(frame["revision"]);
        const cursor = this.#cursors.get(conversationId) ?? 0;
        if (revision > cursor) this.#cursors.set(conversationId, revision);
        if (message.client_msg_id !== null) this.#outbox.delete(message.client_msg_id);
        this.#handlers.onMessage({ ...message, conversation_id: conversationId });
        break;
      }
      case "task.created":
      case "task.assigned":
      case "task.updated":
        this.#taskCursor = Math.max(this.#taskCursor ?? 0, Number(frame["revision"]));
        this.#handlers.onTask(frame["task"] as Task);
        break;
      case "tasks.reset": {
        const revision = Number(frame["revision"]);
        this.#taskCursor = revision;
        this.#handlers.onTasksReset(revision);
        break;
      }
      case "receipt":
        this.#handlers.onReceipt(
          String(frame["conversation_id"]),
          String(frame["user_id"]),
          Number(frame["read_seq"]),
        );
        break;
      case "typing":
        this.#handlers.onTyping(String(frame["conversation_id"]), String(frame["user_id"]));
        break;
      case "referral.updated":
      case "escalation":
        this.#handlers.onOverviewChanged();
        break;
      case "error":
        this.#lastError = String(frame["code"]);
        if (frame["frame"] === "send" && typeof frame["client_msg_id"] === "string") {
          this.#outbox.delete(frame["client_msg_id"]);
          this.#handlers.onSendRefused(frame["client_msg_id"], String(frame["detail"]));
        }
        break;
    }
  }

  /** First connect: follow from the server's revisions. Reconnect: resume from ours. */
  #ready(revisions: Record<string, number>, taskRevision: number): void {
    const known = new Map(this.#cursors);
    const taskCursor = this.#taskCursor;
    if (taskCursor === null) this.#taskCursor = taskRevision;
    let unknown = false;
    for (const [id, revision] of Object.entries(revisions)) {
      if (!known.has(id)) {
        this.#cursors.set(id, revision);
        unknown = true;
      }
    }
    if (unknown) this.#handlers.onOverviewChanged();
    const cursors = Object.fromEntries([...known].filter(([id]) => id in revisions));
    if (Object.keys(cursors).length === 0 && taskCursor === null) {
      this.#live();
      return;
    }
    const tasks = taskCursor === null ? {} : { tasks: taskCursor };
    this.#sendFrame({ type: "resume", cursors, ...tasks }, true);
  }

  #live(): void {
    this.#backoffMs = 250;
    this.#handlers.onStatus("live");
    for (const message of this.#outbox.values()) this.#sendFrame(sendFrame(message));
  }

  async #closed(socket: SocketLike, code: number): Promise<void> {
    if (socket !== this.#socket) return;
    this.#socket = null;
    if (this.#stopped) return;
    if (code === CLOSE_ORIGIN) {
      this.#handlers.onStatus("stopped");
      return;
    }
    if (code === CLOSE_AUTH) {
      if (this.#lastError !== "token_expired") {
        this.#handlers.onSessionEnded(this.#lastError);
        return;
      }
      try {
        await this.#handlers.refreshSession();
      } catch {
        // Either the session is over (the app went back to sign-in and stopped this) or
        // the server could not be reached: then try again like any other drop.
        if (this.#stopped) return;
      }
    }
    this.#handlers.onStatus(this.#around.online() ? "connecting" : "offline");
    this.#retryTimer = setTimeout(() => this.#connect(), this.#backoffMs);
    this.#backoffMs = Math.min(MAX_BACKOFF_MS, this.#backoffMs * 2);
  }

  #sendFrame(frame: Frame, passive = false): void {
    const socket = this.#socket;
    if (socket === null || socket.readyState !== OPEN) return;
    socket.send(JSON.stringify(frame));
    if (!passive) this.#handlers.onActivity();
  }

  /** Drop the socket at once (its close may never complete while offline). */
  #wentOffline = (): void => {
    const socket = this.#socket;
    this.#socket = null;
    socket?.close(1000);
    this.#handlers.onStatus("offline");
  };

  #cameOnline = (): void => {
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#connect();
  };
}

function sendFrame(message: PendingMessage): Frame {
  return {
    type: "send",
    conversation_id: message.conversation_id,
    body: message.body,
    client_msg_id: message.client_msg_id,
    priority: message.priority,
    ...(message.reply_to_seq === null ? {} : { reply_to_seq: message.reply_to_seq }),
  };
}

function browser(): Surroundings {
  return {
    open: (url) => new WebSocket(url),
    online: () => navigator.onLine,
    onNetworkChange(offline, online) {
      addEventListener("offline", offline);
      addEventListener("online", online);
      return () => {
        removeEventListener("offline", offline);
        removeEventListener("online", online);
      };
    },
  };
}

function socketUrl(): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/api/v1/ws`;
}
