// The organization's accounts: who they are, whether they can sign in, and the three things
// an administrator does to an account (deactivate, reactivate, reset its second factor).

import { useState } from "preact/hooks";

import { describeError, roleName } from "../messages";
import { api } from "../session";
import { Alert } from "../ui";
import { type StaffUser, type UserAction, changeUser } from "./api";

const ACTION_WORDS: Record<UserAction, { button: string; confirm: string; done: string }> = {
  deactivate: {
    button: "Deactivate",
    confirm: "Deactivate this account? Its sessions end at once and it can no longer sign in.",
    done: "is deactivated",
  },
  reactivate: {
    button: "Reactivate",
    confirm: "Reactivate this account so it can sign in again?",
    done: "can sign in again",
  },
  "mfa-reset": {
    button: "Reset two-step sign-in",
    confirm: "Remove this account's second factor? Its sessions end and it must enrol again.",
    done: "must set up two-step sign-in again",
  },
};

interface Pending {
  user: StaffUser;
  action: UserAction;
}

export function UsersPanel(props: {
  users: StaffUser[];
  myId: string;
  onChanged: (user: StaffUser) => void;
}) {
  const { users, myId, onChanged } = props;
  const [pending, setPending] = useState<Pending | null>(null);
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<{ text: string; urgency: "alert" | "status" } | null>(
    null,
  );
  const [attempt, setAttempt] = useState(0);

  const confirm = async () => {
    if (pending === null || busy) return;
    setBusy(true);
    setAttempt((n) => n + 1);
    try {
      const changed = await changeUser(api, pending.user.id, pending.action);
      onChanged(changed);
      setMessage({
        text: `${changed.display_name} ${ACTION_WORDS[pending.action].done}.`,
        urgency: "status",
      });
    } catch (failure) {
      setMessage({ text: describeError(failure), urgency: "alert" });
    } finally {
      setBusy(false);
      setPending(null);
    }
  };

  return (
    <section class="panel" aria-labelledby="users-title" id="users">
      <h2 id="users-title">Users</h2>
      {message && (
        <Alert key={attempt} urgency={message.urgency}>
          {message.text}
        </Alert>
      )}
      {pending && (
        <div class="confirm" role="group" aria-labelledby="confirm-text">
          <p id="confirm-text">
            <strong>{pending.user.display_name}:</strong> {ACTION_WORDS[pending.action].confirm}
          </p>
          <div class="actions">
            <button type="button" onClick={confirm} aria-busy={busy} ref={(b) => b?.focus()}>
              {busy ? "Working…" : `Yes, ${ACTION_WORDS[pending.action].button.toLowerCase()}`}
            </button>
            <button type="button" class="secondary" onClick={() => setPending(null)}>
              Cancel
            </button>
          </div>
        </div>
      )}
      <div class="table-scroll" role="region" aria-labelledby="users-caption" tabIndex={0}>
        <table>
          <caption id="users-caption">
            {users.length} {users.length === 1 ? "account" : "accounts"}
          </caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Role</th>
              <th scope="col">Status</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {users.map((user) => (
              <tr key={user.id}>
                <td>
                  {user.display_name}
                  <span class="sub wrap-anywhere">{user.email}</span>
                </td>
                <td>{roleName(user.role)}</td>
                <td>
                  <span class={user.is_active ? undefined : "status-inactive"}>
                    {user.is_active ? "Active" : "Deactivated"}
                  </span>
                  <span class="sub">
                    {user.mfa_enabled ? "Two-step sign-in on" : "Password only"}
                  </span>
                </td>
                <td>
                  {user.id === myId ? (
                    <span class="sub">You</span>
                  ) : (
                    <div class="row-actions">
                      {actionsFor(user).map((action) => (
                        <button
                          key={action}
                          type="button"
                          class={action === "deactivate" ? "danger" : "secondary"}
                          onClick={() => setPending({ user, action })}
                        >
                          {ACTION_WORDS[action].button}
                          <span class="visually-hidden"> for {user.display_name}</span>
                        </button>
                      ))}
                    </div>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function actionsFor(user: StaffUser): UserAction[] {
  if (!user.is_active) return ["reactivate"];
  return user.mfa_enabled ? ["deactivate", "mfa-reset"] : ["deactivate"];
}
