import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { ApiClient, type FetchLike } from "../api";
import { FakeSocket } from "./fakeSocket";
import type { Surroundings } from "./realtime";
import { clearCareState, loadThread, startCare, threadOf } from "./store";
import type { Message } from "./types";

function message(seq: number, revision = seq, body = `message ${seq}`): Message {
  return {
    id: `m${seq}`,
    conversation_id: "c1",
    seq,
    revision,
    sender_id: "u2",
    kind: "user",
    priority: "routine",
    body,
    reply_to_seq: null,
    client_msg_id: null,
    version: revision - seq + 1,
    created_at: "2026-01-01T12:00:00Z",
    edited_at: null,
    redacted_at: null,
  };
}

/** The server's side: the thread as it stands, and every page read with its headers. */
function setUp() {
  const server = { thread: [message(1)] };
  const reads: { passive: string | null }[] = [];
  const fetch: FetchLike = async (input, init = {}) => {
    const headers = new Headers(init.headers);
    const body = input.startsWith("/api/v1/conversations/c1/messages")
      ? (reads.push({ passive: headers.get("X-Huddle-Passive") }), { messages: server.thread })
      : { conversations: [] };
    return new Response(JSON.stringify(body), {
      status: 200,
      headers: { "Content-Type": "application/json" },
    });
  };
  const api = new ApiClient({ fetch, readCookie: () => null });
  api.assumeSession();
  const sockets: FakeSocket[] = [];
  const around: Surroundings = {
    open: () => {
      const socket = new FakeSocket();
      sockets.push(socket);
      return socket;
    },
    online: () => true,
    onNetworkChange: () => () => {},
  };
  const care = { api, staff: false, around, onSessionEnded: vi.fn(), onActivity: vi.fn() };
  return { server, reads, sockets, care };
}

const seqs = () => threadOf("c1").messages.map((m) => [m.seq, m.body]);

describe("a thread read before the socket is live", () => {
  beforeEach(() => {
    vi.stubGlobal("location", { protocol: "http:", host: "test" });
  });
  afterEach(() => {
    clearCareState();
    vi.unstubAllGlobals();
  });

  it("is read again once live, so a message sent in between shows", async () => {
    const { server, reads, sockets, care } = setUp();
    await startCare(care);
    await loadThread("c1"); // opened while the socket is still connecting
    expect(seqs()).toEqual([[1, "message 1"]]);

    // Sent after that read, before the socket's starting point: no frame will bring it.
    server.thread = [message(1), message(2)];
    sockets[0]!.frame({ type: "ready", conversations: { c1: 2 }, tasks: 0 });

    await vi.waitFor(() => expect(seqs()).toEqual([[1, "message 1"], [2, "message 2"]]));
    // Opening counted as activity; the read the page made by itself did not.
    expect(reads).toEqual([{ passive: null }, { passive: "1" }]);
  });

  it("merges the second read with frames that arrived first, keeping the newer copy", async () => {
    const { server, reads, sockets, care } = setUp();
    await startCare(care);
    await loadThread("c1");
    server.thread = [message(1), message(2)]; // the server's page is read before the edit
    sockets[0]!.frame({ type: "ready", conversations: { c1: 2 }, tasks: 0 });
    const edited = message(2, 3, "message 2, edited");
    sockets[0]!.frame({ type: "message.updated", conversation_id: "c1", revision: 3, message: edited });

    await vi.waitFor(() => expect(reads).toHaveLength(2));
    await vi.waitFor(() =>
      expect(seqs()).toEqual([[1, "message 1"], [2, "message 2, edited"]]),
    );
  });

  it("is not read again after a reconnect: resume replays what was missed", async () => {
    const { reads, sockets, care } = setUp();
    await startCare(care);
    sockets[0]!.frame({ type: "ready", conversations: { c1: 1 }, tasks: 0 });
    await loadThread("c1"); // opened while live
    sockets[0]!.drop();
    await vi.waitFor(() => expect(sockets).toHaveLength(2), { timeout: 2000 });
    sockets[1]!.frame({ type: "ready", conversations: { c1: 1 }, tasks: 0 });
    sockets[1]!.frame({ type: "resumed", conversations: { c1: 1 }, tasks: 0 });

    expect(sockets[1]!.sent).toEqual([{ type: "resume", cursors: { c1: 1 }, tasks: 0 }]);
    expect(reads).toHaveLength(1);
  });
});
