import { describe, expect, it } from "vitest";

import {
  EMPTY_THREAD,
  addPending,
  applyMessages,
  lastSeq,
  noteTyping,
  typingNow,
  upsertMessages,
} from "./threadState";
import type { Message, PendingMessage } from "./types";

function message(seq: number, revision: number, changes: Partial<Message> = {}): Message {
  return {
    id: `m${seq}`,
    conversation_id: "c1",
    seq,
    revision,
    sender_id: "u1",
    kind: "user",
    priority: "routine",
    body: `message ${seq} at revision ${revision}`,
    reply_to_seq: null,
    client_msg_id: `client-${seq}`,
    version: 1,
    created_at: "2026-01-01T12:00:00Z",
    edited_at: null,
    redacted_at: null,
    ...changes,
  };
}

function pending(id: string): PendingMessage {
  return { client_msg_id: id, conversation_id: "c1", body: "hi", priority: "routine", reply_to_seq: null };
}

describe("upsertMessages", () => {
  it("keeps seq order whatever order messages arrive in", () => {
    const merged = upsertMessages([message(3, 3)], [message(1, 1), message(2, 2)]);
    expect(merged.map((m) => m.seq)).toEqual([1, 2, 3]);
  });

  it("never shows a message twice", () => {
    const once = upsertMessages([], [message(1, 1), message(2, 2)]);
    const twice = upsertMessages(once, [message(2, 2), message(1, 1)]);
    expect(twice).toHaveLength(2);
    expect(twice).toBe(once); // nothing changed, same array
  });

  it("an edit replaces the message; the older revision arriving late does not undo it", () => {
    const edited = message(1, 5, { body: "edited", version: 2 });
    const merged = upsertMessages(upsertMessages([message(1, 1)], [edited]), [message(1, 1)]);
    expect(merged).toEqual([edited]);
  });

  it("a redaction replaces the body with none", () => {
    const redacted = message(1, 4, { body: null, redacted_at: "2026-01-01T12:05:00Z" });
    const [shown] = upsertMessages([message(1, 1)], [redacted]);
    expect(shown?.body).toBeNull();
  });

  it("any interleaving of pages, live frames and replays ends in the same state", () => {
    const server = [message(1, 1), message(2, 2), message(1, 3, { body: "e" }), message(3, 4)];
    const orders = [
      [server, []],
      [server.slice(2), server.slice(0, 2)],
      [[...server].reverse(), server],
      [server.slice(1, 3), server, server.slice(0, 1)],
    ];
    const final = orders.map((batches) =>
      batches.reduce<Message[]>((shown, batch) => upsertMessages(shown, batch), []),
    );
    for (const shown of final) {
      expect(shown.map((m) => [m.seq, m.revision, m.body])).toEqual([
        [1, 3, "e"],
        [2, 2, "message 2 at revision 2"],
        [3, 4, "message 3 at revision 4"],
      ]);
    }
  });
});

describe("pending messages", () => {
  it("are removed when the server's copy arrives, so a message never shows twice", () => {
    let state = addPending(EMPTY_THREAD, pending("client-1"));
    state = addPending(state, pending("client-9"));
    state = applyMessages(state, [message(1, 1)]);
    expect(state.pending.map((p) => p.client_msg_id)).toEqual(["client-9"]);
    expect(state.messages).toHaveLength(1);
  });

  it("are not added again once confirmed or already pending", () => {
    const confirmed = applyMessages(EMPTY_THREAD, [message(1, 1)]);
    expect(addPending(confirmed, pending("client-1")).pending).toEqual([]);
    const once = addPending(EMPTY_THREAD, pending("x"));
    expect(addPending(once, pending("x"))).toBe(once);
  });
});

describe("typing and reading", () => {
  it("shows who typed in the last few seconds", () => {
    const state = noteTyping(noteTyping(EMPTY_THREAD, "u2", 1000), "u3", 3000);
    expect(typingNow(state, 6500)).toEqual(["u3"]);
    expect(typingNow(state, 9000)).toEqual([]);
  });

  it("the last seq is the newest shown message", () => {
    expect(lastSeq(EMPTY_THREAD)).toBe(0);
    expect(lastSeq(applyMessages(EMPTY_THREAD, [message(2, 2), message(7, 9)]))).toBe(7);
  });
});
