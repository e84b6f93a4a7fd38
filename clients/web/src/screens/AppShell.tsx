import { AdminScreen } from "../admin/AdminScreen";
import type { Me } from "../api";
import { conversations } from "../care/store";
import { ComplianceScreen } from "../compliance/ComplianceScreen";
import { conversationIdOf, path } from "../router";
import { HandoffPrompt } from "../tasks/HandoffPrompt";
import { Worklist } from "../tasks/Worklist";
import { TopBar } from "../ui";
import { AccessLog } from "./AccessLog";
import { ConversationList } from "./ConversationList";
import { IdleWarning } from "./IdleWarning";
import { ReferralForm } from "./ReferralForm";
import { Thread } from "./Thread";

/** The signed-in app: navigation for the role, the screen for the path, the idle warning.
 * Compliance and admin screens plug in here (a case per path) and in nav.ts. */
export function AppShell({ me }: { me: Me }) {
  const role = me.user.role;
  if (role === "compliance_officer" || role === "admin") {
    // These screens bring their own top bar (clients/web/src/compliance, admin).
    return (
      <>
        {role === "admin" ? <AdminScreen me={me} /> : <ComplianceScreen me={me} />}
        <IdleWarning />
      </>
    );
  }
  return (
    <>
      <TopBar me={me} />
      <Screen me={me} current={path.value} />
      {role !== "patient" && <HandoffPrompt me={me} />}
      <IdleWarning />
    </>
  );
}

function Screen({ me, current }: { me: Me; current: string }) {
  const role = me.user.role;
  const conversationId = conversationIdOf(current);
  if (role === "patient") {
    if (current === "/access-log") return <AccessLog />;
    const only = conversations.value.length === 1 ? conversations.value[0] : undefined;
    const id = conversationId ?? only?.id;
    return id ? <Thread conversationId={id} me={me} /> : <ConversationList title="My messages" />;
  }
  if (current === "/referrals/new") return <ReferralForm />;
  if (current === "/tasks") return <Worklist me={me} />;
  if (conversationId) return <Thread conversationId={conversationId} me={me} />;
  return <ConversationList />;
}
