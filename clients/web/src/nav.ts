// The app's sections by role: the navigation shows a person only the sections their role
// uses. To add a section (the compliance and admin screens), add an entry here and a case
// for its path in screens/AppShell.tsx; the server still enforces every permission.

import type { Role } from "./api";

export interface NavItem {
  label: string;
  path: string;
  roles: readonly Role[];
}

const CLINICAL: readonly Role[] = ["pcp", "care_manager", "psychiatrist", "bh_clinician"];

export const NAV: readonly NavItem[] = [
  { label: "Conversations", path: "/", roles: CLINICAL },
  { label: "New referral", path: "/referrals/new", roles: CLINICAL },
  { label: "Worklist", path: "/tasks", roles: CLINICAL },
  { label: "My messages", path: "/", roles: ["patient"] },
  { label: "Who viewed my record", path: "/access-log", roles: ["patient"] },
];

export function navFor(role: Role): NavItem[] {
  return NAV.filter((item) => item.roles.includes(role));
}
