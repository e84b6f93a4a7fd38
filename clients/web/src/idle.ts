// Automatic logoff on this page, in step with the server's idle timeout: the server
// counts as activity only requests and socket frames the person caused (not passive ones,
// docs/web-client.md#idle-logoff), so this clock restarts on exactly those. A minute
// before the end a warning appears; at the end the page signs out and every piece of PHI
// is dropped.

import { signal } from "@preact/signals";

export const WARNING_SECONDS = 60;
const ACTIVITY_RESOLUTION_MS = 15_000;

/** Seconds left while the warning is showing, else null. */
export const idleWarning = signal<number | null>(null);

let lastActivity = Date.now();
let timeoutMs = 0;
let timer: ReturnType<typeof setInterval> | null = null;
let onTimeout: () => void = () => {};

export function noteActivity(): void {
  lastActivity = Date.now();
  if (idleWarning.value !== null) idleWarning.value = null;
}

export function startIdleClock(minutes: number, signOutForIdle: () => void): void {
  stopIdleClock();
  // The server notes activity at most every 15 s, so it may count from up to 15 s earlier.
  timeoutMs = minutes * 60_000 - ACTIVITY_RESOLUTION_MS;
  onTimeout = signOutForIdle;
  lastActivity = Date.now();
  timer = setInterval(tick, 1000);
}

export function stopIdleClock(): void {
  if (timer !== null) clearInterval(timer);
  timer = null;
  idleWarning.value = null;
}

function tick(): void {
  const left = Math.ceil((timeoutMs - (Date.now() - lastActivity)) / 1000);
  if (left <= 0) {
    stopIdleClock();
    onTimeout();
  } else if (left <= WARNING_SECONDS) {
    idleWarning.value = left;
  }
}
