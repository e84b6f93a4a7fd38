// Paths the app shows, kept in the address bar so deep links and Back work. The server
// answers every non-API path with index.html (server/huddle/webclient.py).

import { signal } from "@preact/signals";

export const path = signal(location.pathname);

addEventListener("popstate", () => {
  path.value = location.pathname;
});

export function navigate(to: string): void {
  if (to === location.pathname) return;
  history.pushState(null, "", to);
  path.value = to;
}

/** onClick for in-app links: plain clicks navigate here, modified clicks stay the browser's. */
export function followLink(event: MouseEvent): void {
  const link = event.currentTarget as HTMLAnchorElement;
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
    return;
  }
  event.preventDefault();
  navigate(link.pathname);
}

/** The id in `/conversations/{id}`, or null. */
export function conversationIdOf(current: string): string | null {
  return /^\/conversations\/([0-9a-f-]{36})\/?$/.exec(current)?.[1] ?? null;
}
