import { useEffect, useState } from "preact/hooks";

import type { AccessLogEntry } from "../care/types";
import { describeError } from "../messages";
import { api } from "../session";
import { Alert, useFocusOnMount, when } from "../ui";

/** The patient's own record of who looked at their information. */
export function AccessLog() {
  const heading = useFocusOnMount<HTMLHeadingElement>();
  const [entries, setEntries] = useState<AccessLogEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api
      .request<{ entries: AccessLogEntry[] }>("GET", "/api/v1/me/access-log", { auth: true })
      .then((answer) => setEntries(answer.entries))
      .catch((failure) => setError(describeError(failure)));
  }, []);

  return (
    <main class="page" aria-labelledby="access-log-title">
      <h1 id="access-log-title" ref={heading} tabIndex={-1}>
        Who viewed my record
      </h1>
      {error && <Alert>{error}</Alert>}
      {entries === null && !error && <p role="status">Loading…</p>}
      {entries !== null && (
        <table class="access-log">
          <caption>Newest first</caption>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Who</th>
              <th scope="col">What</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((entry, index) => (
              <tr key={index}>
                <td>{when(entry.at)}</td>
                <td>{entry.who}</td>
                <td>
                  {entry.action.replaceAll("_", " ")} ({entry.resource_type})
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </main>
  );
}
