import { describe, expect, it, vi } from "vitest";

import { FakeSocket } from "./fakeSocket";
import { Realtime, type RealtimeHandlers, type Surroundings } from "./realtime";
import type { Message, PendingMessage } from "./types";

function setUp() {
  const sockets: FakeSocket[] = [];
  let online = true;
  let networkChanged = { offline: () => {}, online: () => {} };
  const around: Surroundings = {
    open: () => {
      const socket = new FakeSocket();
      sockets.push(socket);
      return socket;
    },
    online: () => online,
    onNetworkChange(offline, back) {
      networkChanged = { offline, online: back };
      return () => {};
    },
  };
  const handlers: RealtimeHandlers = {
    onMessage: vi.fn(),
    onReceipt: vi.fn(),
    onTyping: vi.fn(),
    onTask: vi.fn(),
    onTasksReset: vi.fn(),
    onOverviewChanged: vi.fn(),
    onStatus: vi.fn(),
    onSendRefused: vi.fn(),
    refreshSession: vi.fn(async () => {}),
    onSessionEnded: vi.fn(),
    onActivity: vi.fn(),
  };
  const realtime = new Realtime(handlers, around, "ws://test/api/v1/ws");
  return {
    realtime,
    handlers,
    sockets,
    goOffline() {
      online = false;
      networkChanged.offline();
    },
    comeBack() {
      online = true;
      networkChanged.online();
    },
  };
}

function message(seq: number, revision: number, clientMsgId: string | null = null): Message {
  return {
    id: `m${seq}`,
    conversation_id: "c1",
    seq,
    revision,
    sender_id: "u2",
    kind: "user",
    priority: "routine",
    body: `message ${seq}`,
    reply_to_seq: null,
    client_msg_id: clientMsgId,
    version: 1,
    created_at: "2026-01-01T12:00:00Z",
    edited_at: null,
    redacted_at: null,
  };
}

function created(m: Message) {
  return { type: "message.created", conversation_id: "c1", revision: m.revision, message: m };
}

const draft: PendingMessage = {
  client_msg_id: "typed-offline",
  conversation_id: "c1",
  body: "hello",
  priority: "routine",
  reply_to_seq: null,
};

describe("the live connection", () => {
  it("resumes from the last revision it applied, not the server's newest", async () => {
    const { realtime, sockets, handlers } = setUp();
    realtime.start();
    sockets[0]!.frame({ type: "ready", conversations: { c1: 4, c2: 9 }, tasks: 2 });
    sockets[0]!.frame(created(message(5, 5)));
    expect(handlers.onStatus).toHaveBeenLastCalledWith("live");

    sockets[0]!.drop();
    await vi.waitFor(() => expect(sockets).toHaveLength(2), { timeout: 2000 });
    sockets[1]!.frame({ type: "ready", conversations: { c1: 8, c2: 9 }, tasks: 6 });

    expect(sockets[1]!.sent).toEqual([{ type: "resume", cursors: { c1: 5, c2: 9 }, tasks: 2 }]);
    realtime.stop();
  });

  it("keeps a message typed offline and sends it once the connection is back", async () => {
    const { realtime, sockets, goOffline, comeBack, handlers } = setUp();
    realtime.start();
    sockets[0]!.frame({ type: "ready", conversations: { c1: 1 } });

    goOffline();
    expect(handlers.onStatus).toHaveBeenLastCalledWith("offline");
    realtime.send(draft);
    expect(sockets[0]!.sent).toEqual([]);

    comeBack();
    expect(sockets).toHaveLength(2);
    sockets[1]!.frame({ type: "ready", conversations: { c1: 1 } });
    sockets[1]!.frame({ type: "resumed", conversations: { c1: 1 } });
    expect(sockets[1]!.sent).toEqual([
      { type: "resume", cursors: { c1: 1 }, tasks: 0 },
      expect.objectContaining({ type: "send", client_msg_id: "typed-offline", body: "hello" }),
    ]);

    // Once the server's copy arrives it is not sent again after another drop.
    sockets[1]!.frame(created(message(2, 2, "typed-offline")));
    goOffline();
    comeBack();
    sockets[2]!.frame({ type: "ready", conversations: { c1: 2 } });
    sockets[2]!.frame({ type: "resumed", conversations: { c1: 2 } });
    expect(sockets[2]!.sent).toEqual([{ type: "resume", cursors: { c1: 2 }, tasks: 0 }]);
    realtime.stop();
  });

  it("refreshes an expired session and reconnects; an ended one goes back to sign-in", async () => {
    const { realtime, sockets, handlers } = setUp();
    realtime.start();
    sockets[0]!.frame({ type: "ready", conversations: {} });
    sockets[0]!.frame({ type: "error", code: "token_expired", detail: "x" });
    sockets[0]!.drop(4401);
    await vi.waitFor(() => expect(sockets).toHaveLength(2), { timeout: 2000 });
    expect(handlers.refreshSession).toHaveBeenCalledTimes(1);

    sockets[1]!.frame({ type: "error", code: "session_idle", detail: "x" });
    sockets[1]!.drop(4401);
    expect(handlers.onSessionEnded).toHaveBeenCalledWith("session_idle");
    realtime.stop();
  });

  it("passes task frames on and resumes tasks from the last task revision applied", async () => {
    const { realtime, sockets, handlers } = setUp();
    realtime.start();
    sockets[0]!.frame({ type: "ready", conversations: {}, tasks: 10 });
    expect(sockets[0]!.sent).toEqual([]); // first connection: follow from the server's revision
    const task = { id: "t1", revision: 12, status: "open" };
    sockets[0]!.frame({ type: "task.created", revision: 12, task });
    sockets[0]!.frame({ type: "task.assigned", revision: 11, task: { ...task, revision: 11 } });
    expect(handlers.onTask).toHaveBeenCalledTimes(2);
    expect(handlers.onTask).toHaveBeenNthCalledWith(1, task);

    sockets[0]!.drop();
    await vi.waitFor(() => expect(sockets).toHaveLength(2), { timeout: 2000 });
    sockets[1]!.frame({ type: "ready", conversations: {}, tasks: 15 });
    // A late lower revision did not move the cursor back; no conversations is no obstacle.
    expect(sockets[1]!.sent).toEqual([{ type: "resume", cursors: {}, tasks: 12 }]);
    sockets[1]!.frame({ type: "task.updated", revision: 14, task: { ...task, revision: 14 } });
    sockets[1]!.frame({ type: "resumed", conversations: {}, tasks: 14 });
    expect(handlers.onStatus).toHaveBeenLastCalledWith("live");

    sockets[1]!.drop();
    await vi.waitFor(() => expect(sockets).toHaveLength(3), { timeout: 2000 });
    sockets[2]!.frame({ type: "ready", conversations: {}, tasks: 15 });
    expect(sockets[2]!.sent).toEqual([{ type: "resume", cursors: {}, tasks: 14 }]);
    realtime.stop();
  });

  it("on tasks.reset reads the task lists again and resumes from the reset revision", async () => {
    const { realtime, sockets, handlers } = setUp();
    realtime.start();
    sockets[0]!.frame({ type: "ready", conversations: {}, tasks: 10 });
    sockets[0]!.drop();
    await vi.waitFor(() => expect(sockets).toHaveLength(2), { timeout: 2000 });
    sockets[1]!.frame({ type: "ready", conversations: {}, tasks: 900 });
    expect(sockets[1]!.sent).toEqual([{ type: "resume", cursors: {}, tasks: 10 }]);
    sockets[1]!.frame({ type: "tasks.reset", revision: 900 });
    sockets[1]!.frame({ type: "resumed", conversations: {}, tasks: 900 });
    expect(handlers.onTasksReset).toHaveBeenCalledWith(900);
    expect(handlers.onTask).not.toHaveBeenCalled();

    sockets[1]!.drop();
    await vi.waitFor(() => expect(sockets).toHaveLength(3), { timeout: 2000 });
    sockets[2]!.frame({ type: "ready", conversations: {}, tasks: 901 });
    expect(sockets[2]!.sent).toEqual([{ type: "resume", cursors: {}, tasks: 900 }]);
    realtime.stop();
  });

  it("counts only frames the person caused as activity; receipts and resume are passive", async () => {
    const { realtime, sockets, handlers } = setUp();
    realtime.start();
    sockets[0]!.frame({ type: "ready", conversations: { c1: 1 } });
    sockets[0]!.frame(created(message(2, 2)));
    realtime.markRead("c1", 2); // sent by itself as the message arrived in the open thread
    expect(sockets[0]!.sent).toEqual([
      { type: "read", conversation_id: "c1", seq: 2, passive: true },
    ]);
    sockets[0]!.drop();
    await vi.waitFor(() => expect(sockets).toHaveLength(2), { timeout: 2000 });
    sockets[1]!.frame({ type: "ready", conversations: { c1: 2 } });
    expect(sockets[1]!.sent).toEqual([{ type: "resume", cursors: { c1: 2 }, tasks: 0 }]);
    expect(handlers.onActivity).not.toHaveBeenCalled();

    sockets[1]!.frame({ type: "resumed", conversations: { c1: 2 } });
    realtime.typing("c1");
    realtime.send(draft);
    expect(handlers.onActivity).toHaveBeenCalledTimes(2);
    realtime.stop();
  });

  it("forgets everything when stopped", () => {
    const { realtime, sockets } = setUp();
    realtime.start();
    sockets[0]!.frame({ type: "ready", conversations: { c1: 3 }, tasks: 4 });
    realtime.send(draft);
    realtime.stop();

    realtime.start();
    sockets[1]!.frame({ type: "ready", conversations: { c1: 7 }, tasks: 9 });
    expect(sockets[1]!.sent).toEqual([]); // no resume from old cursors, no old outbox
    realtime.stop();
  });
});
