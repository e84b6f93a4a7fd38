import { useEffect, useState } from "preact/hooks";

import type { Me as SignedIn } from "../api";
import { connection } from "../care/store";
import { describeError } from "../messages";
import { Alert, useFocusOnMount } from "../ui";
import { loadTasks, taskNotice, tasks, tasksLoaded } from "./store";
import { TaskCard } from "./TaskCard";
import { QUEUE_NAMES, type Task } from "./types";
import { WarmHandoffForm } from "./WarmHandoff";
import { type Me, sections } from "./worklist";
import "./tasks.css";

const CLOCK_MS = 30_000;

/** The clinician's worklist: mine, my role's queue, overdue, what I asked for; kept
 * current by task.* frames. */
export function Worklist({ me: signedIn }: { me: SignedIn }) {
  const heading = useFocusOnMount<HTMLHeadingElement>();
  const [error, setError] = useState<string | null>(null);
  const [now, setNow] = useState(Date.now());
  const me: Me = { id: signedIn.user.id, role: signedIn.user.role };
  useEffect(() => {
    taskNotice.value = null;
    loadTasks().catch((failure) => setError(describeError(failure)));
    const tick = setInterval(() => setNow(Date.now()), CLOCK_MS);
    return () => clearInterval(tick);
  }, []);

  const shown = sections(tasks.value, me, now);
  const queueName = QUEUE_NAMES[me.role];
  const queue = queueName === undefined ? "My role's queue" : `${queueName}' queue`;
  return (
    <main class="page worklist" aria-labelledby="worklist-title">
      <h1 id="worklist-title" ref={heading} tabIndex={-1}>
        Worklist
      </h1>
      {connection.value !== "live" && connection.value !== "stopped" && (
        <p role="status" class="notice">
          Reconnecting: the list catches up when the connection is back.
        </p>
      )}
      {error && <Alert>{error}</Alert>}
      {taskNotice.value && <Alert>{taskNotice.value}</Alert>}
      <ul class="task-counts" aria-label="Counts">
        <li>
          <a href="#tasks-mine">Mine: {shown.mine.length}</a>
        </li>
        <li>
          <a href="#tasks-queue">Queue: {shown.queue.length}</a>
        </li>
        <li>
          <a href="#tasks-overdue">Overdue: {shown.overdue.length}</a>
        </li>
      </ul>
      {me.role === "pcp" && <WarmHandoffForm />}
      {!tasksLoaded.value && !error ? (
        <p role="status">Loading tasks…</p>
      ) : (
        <>
          <TaskSection id="tasks-mine" title="Mine" list={shown.mine} me={me} now={now} />
          <TaskSection
            id="tasks-queue"
            title={queue}
            list={shown.queue}
            me={me}
            now={now}
          />
          <TaskSection id="tasks-overdue" title="Overdue" list={shown.overdue} me={me} now={now} />
          <TaskSection
            id="tasks-asked"
            title="Asked of others"
            list={shown.asked}
            me={me}
            now={now}
          />
        </>
      )}
    </main>
  );
}

function TaskSection(props: { id: string; title: string; list: Task[]; me: Me; now: number }) {
  const headingId = `${props.id}-title`;
  return (
    <section id={props.id} aria-labelledby={headingId}>
      <h2 id={headingId}>
        {props.title} ({props.list.length})
      </h2>
      {props.list.length === 0 ? (
        <p class="hint">Nothing here.</p>
      ) : (
        <ul class="tasks">
          {props.list.map((task) => (
            <TaskCard
              key={task.id}
              task={task}
              me={props.me}
              now={props.now}
              idPrefix={props.id}
            />
          ))}
        </ul>
      )}
    </section>
  );
}
