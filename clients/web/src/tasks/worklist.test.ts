import { describe, expect, it } from "vitest";

import { ApiError } from "../api";
import type { Task, TaskEvent } from "./types";
import {
  CLAIMED_BY_SOMEONE_ELSE,
  type TaskMap,
  actionsFor,
  changedAfter,
  describeTaskError,
  handoffsAwaitingMe,
  isReturnedHandoff,
  localToIso,
  mergeTasks,
  nobodyLeftWords,
  sections,
  titleFrom,
  whyNobodyLeft,
} from "./worklist";

const NOW = Date.parse("2026-03-02T12:00:00Z");
const carmen = { id: "carmen", role: "care_manager" as const };
const priya = { id: "priya", role: "pcp" as const };

function task(id: string, fields: Partial<Task> = {}): Task {
  return {
    id,
    patient_id: "maria",
    referral_id: null,
    conversation_id: "c1",
    source_message_id: null,
    kind: "follow_up",
    title: `task ${id}`,
    details: null,
    created_by: "priya",
    assignee_user_id: "carmen",
    assignee_role: null,
    priority: "routine",
    due_at: null,
    status: "open",
    status_reason: null,
    revision: 1,
    last_change: "created",
    created_at: "2026-03-01T09:00:00Z",
    updated_at: "2026-03-01T09:00:00Z",
    accepted_at: null,
    time_to_accept_seconds: null,
    overdue: false,
    escalations: 0,
    withheld: false,
    ...fields,
  };
}

describe("merging tasks by revision", () => {
  const copies = [
    task("a", { revision: 3, status: "accepted" }),
    task("a", { revision: 5, status: "done" }),
    task("b", { revision: 1 }),
    task("a", { revision: 4, status: "in_progress" }),
    task("a", { revision: 5, status: "done" }),
  ];

  it("keeps the newest copy of each task whatever the order, and each once", () => {
    const orders = [copies, [...copies].reverse(), [copies[1]!, copies[0]!, ...copies.slice(2)]];
    for (const order of orders) {
      const merged = order.reduce<TaskMap>((map, t) => mergeTasks(map, [t]), {});
      expect(Object.keys(merged).sort()).toEqual(["a", "b"]);
      expect(merged["a"]!.status).toBe("done");
    }
  });

  it("returns the same map when nothing is newer (no needless redraw)", () => {
    const merged = mergeTasks({}, copies);
    expect(mergeTasks(merged, [task("a", { revision: 2 })])).toBe(merged);
  });

  it("after a reset keeps only what live frames brought since, then the lists' copies", () => {
    // Known before the reset at revision 10: "a" (still listed) and "b" (left my sight);
    // "c" arrived live after the reset, while the lists were being read.
    const known = mergeTasks({}, [
      task("a", { revision: 4 }),
      task("b", { revision: 6 }),
      task("c", { revision: 12 }),
    ]);
    const reloaded = mergeTasks(changedAfter(known, 10), [task("a", { revision: 9 })]);
    expect(Object.keys(reloaded).sort()).toEqual(["a", "c"]);
    expect(reloaded["a"]!.revision).toBe(9);
  });
});

describe("the worklist's sections", () => {
  const all = mergeTasks({}, [
    task("mine", { due_at: "2026-03-03T09:00:00Z" }),
    task("mine-sooner", { due_at: "2026-03-02T15:00:00Z", status: "in_progress" }),
    task("mine-done", { status: "done" }),
    task("queue", { assignee_user_id: null, assignee_role: "care_manager" }),
    task("other-queue", { assignee_user_id: null, assignee_role: "bh_clinician" }),
    task("late", { assignee_user_id: "sam", due_at: "2026-03-02T11:00:00Z" }),
    task("flagged", { assignee_user_id: "sam", overdue: true }),
    task("late-but-done", { due_at: "2026-03-01T11:00:00Z", status: "done" }),
  ]);

  it("splits mine, my role's queue and overdue, soonest due first", () => {
    const shown = sections(all, carmen, NOW);
    const ids = (list: Task[]) => list.map((t) => t.id);
    expect(ids(shown.mine)).toEqual(["mine-sooner", "mine"]);
    expect(ids(shown.queue)).toEqual(["queue"]);
    expect(ids(shown.overdue)).toEqual(["late", "flagged"]);
  });

  it("shows the asker what became of what they asked, but not old finished tasks", () => {
    const recent = task("recent", { status: "done", updated_at: "2026-03-02T10:00:00Z" });
    const shown = sections(mergeTasks(all, [recent]), priya, NOW);
    expect(shown.asked.map((t) => t.id)).toContain("recent");
    expect(shown.asked.map((t) => t.id)).not.toContain("mine-done");
  });
});

describe("what a person may do with a task", () => {
  it("offers a queue item to claim, and the assignee's next steps", () => {
    const queued = task("q", { assignee_user_id: null, assignee_role: "care_manager" });
    expect(actionsFor(queued, carmen)).toEqual(["claim"]);
    expect(actionsFor(queued, priya)).toEqual(["cancel"]);
    expect(actionsFor(task("t"), carmen)).toEqual(["accept", "decline"]);
    expect(actionsFor(task("t", { status: "accepted" }), carmen)).toEqual([
      "start",
      "complete",
      "decline",
    ]);
    expect(actionsFor(task("t", { status: "in_progress" }), carmen)).toEqual(["complete"]);
    expect(actionsFor(task("t", { status: "done" }), carmen)).toEqual([]);
  });

  it("says plainly that someone else claimed a task first", () => {
    const conflict = new ApiError(409, "already_claimed", "Task already claimed.");
    expect(describeTaskError(conflict)).toBe(CLAIMED_BY_SOMEONE_ELSE);
    expect(describeTaskError(new ApiError(409, "illegal_transition", "Reopen it first."))).toBe(
      "Reopen it first.",
    );
  });
});

describe("small rules", () => {
  it("prompts a consultant only for warm handoffs still waiting for their answer", () => {
    const theo = { id: "theo", role: "bh_clinician" as const };
    const handoff = { kind: "warm_handoff" as const, assignee_user_id: "theo" };
    const waiting = mergeTasks({}, [
      task("h2", { ...handoff, created_at: "2026-03-02T11:59:00Z" }),
      task("h1", { ...handoff, created_at: "2026-03-02T11:58:00Z" }),
      task("h3", { ...handoff, status: "accepted" }),
      task("other", { assignee_user_id: "theo" }),
    ]);
    expect(handoffsAwaitingMe(waiting, theo).map((t) => t.id)).toEqual(["h1", "h2"]);
  });

  it("never prompts the PCP for a handoff no consultant took (it came back to her)", () => {
    const returned = task("h", { kind: "warm_handoff", assignee_user_id: "priya", overdue: true });
    expect(handoffsAwaitingMe({ h: returned }, priya)).toEqual([]);
  });

  it("prefills a title from the message's first line, shortened", () => {
    expect(titleFrom("Can someone call her?\nThanks")).toBe("Can someone call her?");
    const long = titleFrom("word ".repeat(40));
    expect(long.length).toBeLessThanOrEqual(80);
    expect(long.endsWith("…")).toBe(true);
    expect(titleFrom(null)).toBe("");
  });

  it("sends a local due time as UTC with its zone, and no time as none", () => {
    expect(localToIso("")).toBeNull();
    expect(localToIso("2026-03-02T14:30")).toBe(new Date(2026, 2, 2, 14, 30).toISOString());
  });
});

describe("a warm handoff no consultant took", () => {
  function event(change: string, fields: Partial<TaskEvent> = {}): TaskEvent {
    return {
      change,
      actor_user_id: null,
      from_status: null,
      to_status: null,
      assignee_user_id: null,
      assignee_role: null,
      reason: null,
      at: "2026-03-02T12:00:00Z",
      ...fields,
    };
  }
  const declined = (reason: string) =>
    event("status", { from_status: "open", to_status: "declined", reason });
  const handoff = task("h", {
    kind: "warm_handoff",
    status: "open",
    assignee_user_id: "priya",
    overdue: true,
    escalations: 1,
    last_change: "returned",
  });

  it("is back with the PCP who asked, who may only cancel it", () => {
    expect(isReturnedHandoff(handoff)).toBe(true);
    expect(actionsFor(handoff, priya)).toEqual(["cancel"]);
    expect(actionsFor(handoff, { id: "theo", role: "bh_clinician" })).toEqual([]);
    const waiting = { ...handoff, assignee_user_id: "theo" };
    expect(isReturnedHandoff(waiting)).toBe(false);
    expect(isReturnedHandoff({ ...handoff, status: "cancelled" })).toBe(false);
  });

  it("tells the PCP that everyone declined, why, and what to do now", () => {
    const why = whyNobodyLeft([
      event("created"),
      declined("With a patient in crisis until 3 pm"),
      event("escalated", { from_status: "declined", to_status: "open" }),
      declined("Off site today"),
      event("returned", { from_status: "declined", to_status: "open" }),
    ]);
    expect(why).toEqual({ declined: true, lastReason: "Off site today" });
    const words = nobodyLeftWords(handoff, why);
    expect(words).toMatch(/^Both consultants declined this warm handoff, and no other/);
    expect(words).toContain("Last reason given: “Off site today”.");
    expect(words).toContain("The patient is still waiting");
    expect(words).toContain("cancel this handoff on your worklist");
  });

  it("tells the PCP that nobody answered in time when the last one did not", () => {
    const why = whyNobodyLeft([
      event("created"),
      declined("Off site today"),
      event("escalated", { from_status: "declined", to_status: "open" }),
      event("returned", { from_status: "open", to_status: "open" }),
    ]);
    expect(why.declined).toBe(false);
    expect(nobodyLeftWords(task("h", { ...handoff, escalations: 2 }), why)).toMatch(
      /^No consultant accepted this warm handoff in time \(3 asked\), and no other/,
    );
  });

  it("says what it can before the history is read", () => {
    expect(nobodyLeftWords(handoff, null)).toMatch(
      /^No consultant accepted this warm handoff \(2 asked\), and no other consultant is available\. The patient is still waiting/,
    );
  });
});
