// The administrator's screen: the organization's accounts, its settings, and caseloads.
// Admins manage accounts, not patient data, so nothing here shows or reaches a patient's
// record: care teams appear as counts per clinician.

import "../compliance/panels.css";

import { useEffect, useState } from "preact/hooks";

import type { Me } from "../api";
import { describeError } from "../messages";
import { api } from "../session";
import { Alert, TopBar, useFocusOnMount } from "../ui";
import { type StaffUser, listUsers, organizationSettings } from "./api";
import { CaseloadsPanel } from "./CaseloadsPanel";
import { NewUserForm } from "./NewUserForm";
import { OrganizationPanel } from "./OrganizationPanel";
import type { OrganizationSettings } from "./settings";
import { UsersPanel } from "./UsersPanel";

export function AdminScreen({ me }: { me: Me }) {
  const heading = useFocusOnMount<HTMLHeadingElement>();
  const [users, setUsers] = useState<StaffUser[] | null>(null);
  const [settings, setSettings] = useState<OrganizationSettings | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    Promise.all([listUsers(api), organizationSettings(api)]).then(
      ([found, saved]) => {
        setUsers(found);
        setSettings(saved);
      },
      (failure) => setError(describeError(failure)),
    );
  }, []);

  const replace = (changed: StaffUser) =>
    setUsers((current) => (current ?? []).map((user) => (user.id === changed.id ? changed : user)));

  return (
    <>
      <TopBar me={me} />
      <main class="page area" aria-labelledby="admin-title">
        <h1 id="admin-title" ref={heading} tabIndex={-1}>
          Administration
        </h1>
        <p class="hint">Accounts and settings of {me.organization.name}.</p>
        <nav aria-label="Sections of this page" class="section-nav">
          <ul>
            <li>
              <a href="#users">Users</a>
            </li>
            <li>
              <a href="#new-user">Add a user</a>
            </li>
            <li>
              <a href="#organization">Organization settings</a>
            </li>
            <li>
              <a href="#care-teams">Care teams</a>
            </li>
          </ul>
        </nav>
        {error && <Alert>{error}</Alert>}
        {(users === null || settings === null) && !error && <p aria-busy="true">Loading…</p>}
        {users && settings && (
          <>
            <UsersPanel users={users} myId={me.user.id} onChanged={replace} />
            <NewUserForm
              onCreated={(created) => setUsers((current) => [...(current ?? []), created])}
            />
            <OrganizationPanel saved={settings} users={users} onSaved={setSettings} />
            <CaseloadsPanel users={users} />
          </>
        )}
      </main>
    </>
  );
}
