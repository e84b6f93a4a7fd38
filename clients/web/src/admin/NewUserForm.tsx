// Create a staff account. The person signs in with the initial password and should change
// it; the server enforces the password rules and names what is wrong.

import { useState } from "preact/hooks";

import type { Role } from "../api";
import { describeError, roleName } from "../messages";
import { api } from "../session";
import { Alert } from "../ui";
import { type StaffUser, createUser } from "./api";
import { STAFF_ROLES } from "./settings";

const EMPTY = { email: "", display_name: "", role: "pcp" as Role, password: "" };

export function NewUserForm({ onCreated }: { onCreated: (user: StaffUser) => void }) {
  const [draft, setDraft] = useState(EMPTY);
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<{ text: string; urgency: "alert" | "status" } | null>(
    null,
  );
  const [attempt, setAttempt] = useState(0);

  const set = (name: keyof typeof EMPTY, value: string) =>
    setDraft((current) => ({ ...current, [name]: value }));

  const submit = async (event: Event) => {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setAttempt((n) => n + 1);
    try {
      const created = await createUser(api, {
        ...draft,
        email: draft.email.trim(),
        display_name: draft.display_name.trim(),
      });
      onCreated(created);
      setDraft(EMPTY);
      setMessage({
        text: `Created ${created.display_name} (${roleName(created.role)}).`,
        urgency: "status",
      });
    } catch (failure) {
      setMessage({ text: describeError(failure), urgency: "alert" });
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="panel" aria-labelledby="new-user-title" id="new-user">
      <h2 id="new-user-title">Add a user</h2>
      <form onSubmit={submit} aria-busy={busy}>
        <div class="field-row">
          <div class="field">
            <label for="new-user-name">Name</label>
            <input
              id="new-user-name"
              required
              maxLength={200}
              autocomplete="off"
              value={draft.display_name}
              onInput={(e) => set("display_name", e.currentTarget.value)}
            />
          </div>
          <div class="field">
            <label for="new-user-email">E-mail</label>
            <input
              id="new-user-email"
              type="email"
              required
              maxLength={254}
              autocomplete="off"
              spellcheck={false}
              value={draft.email}
              onInput={(e) => set("email", e.currentTarget.value)}
            />
          </div>
          <div class="field">
            <label for="new-user-role">Role</label>
            <select
              id="new-user-role"
              value={draft.role}
              onChange={(e) => set("role", e.currentTarget.value)}
            >
              {STAFF_ROLES.map((role) => (
                <option key={role} value={role}>
                  {roleName(role)}
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="new-user-password">Initial password</label>
            <input
              id="new-user-password"
              type="password"
              required
              maxLength={256}
              autocomplete="new-password"
              aria-describedby="new-user-password-hint"
              value={draft.password}
              onInput={(e) => set("password", e.currentTarget.value)}
            />
            <p class="hint" id="new-user-password-hint">
              At least 15 characters (8 once two-step sign-in is on); give it to the person
              privately.
            </p>
          </div>
        </div>
        <button type="submit">{busy ? "Creating…" : "Create user"}</button>
      </form>
      {message && (
        <Alert key={attempt} urgency={message.urgency}>
          {message.text}
        </Alert>
      )}
    </section>
  );
}
