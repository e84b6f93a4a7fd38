// The compliance officer's screen: is the audit chain intact, what is flagged for review,
// search and export the audit log, and a patient's accounting of disclosures.

import "./panels.css";

import type { Me } from "../api";
import { TopBar, useFocusOnMount } from "../ui";
import { AuditSearch } from "./AuditSearch";
import { DisclosureAccounting } from "./DisclosureAccounting";
import { FlaggedEvents } from "./FlaggedEvents";
import { VerificationStatus } from "./VerificationStatus";

export function ComplianceScreen({ me }: { me: Me }) {
  const heading = useFocusOnMount<HTMLHeadingElement>();
  return (
    <>
      <TopBar me={me} />
      <main class="page area" aria-labelledby="compliance-title">
        <h1 id="compliance-title" ref={heading} tabIndex={-1}>
          Audit review
        </h1>
        <p class="hint">
          The audit log of {me.organization.name}. Every search, export and check here is itself
          recorded in it.
        </p>
        <nav aria-label="Sections of this page" class="section-nav">
          <ul>
            <li>
              <a href="#verification">Audit chain</a>
            </li>
            <li>
              <a href="#flagged">Flagged for review</a>
            </li>
            <li>
              <a href="#audit-search">Search and export</a>
            </li>
            <li>
              <a href="#disclosures">Accounting of disclosures</a>
            </li>
          </ul>
        </nav>
        <VerificationStatus />
        <FlaggedEvents />
        <AuditSearch />
        <DisclosureAccounting />
      </main>
    </>
  );
}
