// The patient's secure-link page: reading the link token from the address, the three
// patient-link calls, and the words for what went wrong. The link session token is kept by
// the caller in memory only (never storage or cookies) and is never refreshed.

import { ApiError, type ApiClient } from "./api";
import { describeError } from "./messages";

export type MessageKind = "user" | "system" | "auto_reply";

export interface LinkMessage {
  id: string;
  seq: number;
  body: string | null;
  kind: MessageKind;
  sender_id: string | null;
  created_at: string;
  withheld?: boolean;
}

export interface LinkSession {
  accessToken: string;
  expiresIn: number;
  conversationId: string;
}

export interface MessagePage {
  messages: LinkMessage[];
  last_seq: number;
}

/** Where the page goes once the token is used: the token must not stay in the address bar. */
export const SECURE_PATH = "/secure";

export const LINK_EXPIRED =
  "This link has expired or was already used. Ask your care team for a new one.";
export const LINK_SESSION_ENDED = "Your secure session ended.";
export const OPEN_FROM_EMAIL = "Open the secure link from your e-mail to read your message.";

const TOKEN = /^[A-Za-z0-9_-]{16,200}$/;

/**
 * The link token in `/secure/{token}` (a trailing slash allowed), or null when the path is
 * not a secure-link path or the token is not a plausible token.
 */
export function secureTokenFromPath(path: string): string | null {
  const found = /^\/secure\/([^/]+)\/?$/.exec(path);
  if (found === null) return null;
  let token: string;
  try {
    token = decodeURIComponent(found[1] ?? "");
  } catch {
    return null;
  }
  return TOKEN.test(token) ? token : null;
}

/** True for `/secure` and `/secure/...`: the page for patients, not the staff sign-in. */
export function isSecurePath(path: string): boolean {
  return path === SECURE_PATH || path.startsWith(`${SECURE_PATH}/`);
}

/** A 401 from a session endpoint: the link session is over, confirm again. */
export function endsLinkSession(error: unknown): boolean {
  return error instanceof ApiError && error.status === 401;
}

/** One sentence (or two) for the alert: the server's detail (with the wait after a 429),
 * except for a used or expired link, which the server describes vaguely on purpose. */
export function linkErrorMessage(error: unknown): string {
  if (error instanceof ApiError && (error.status === 410 || error.code === "link_expired")) {
    return LINK_EXPIRED;
  }
  return describeError(error);
}

/** The system's own messages (after-hours answers, notes) look different from people's. */
export function messageClass(kind: string): string {
  if (kind === "system") return "message message-system";
  if (kind === "auto_reply") return "message message-auto";
  return "message";
}

export function newClientMsgId(): string {
  return globalThis.crypto.randomUUID();
}

interface ConfirmAnswer {
  access_token: string;
  token_type: string;
  expires_in: number;
  conversation_id: string;
}

export async function confirmLink(
  api: ApiClient,
  token: string,
  dateOfBirth: string,
): Promise<LinkSession> {
  const answer = await api.request<ConfirmAnswer>(
    "POST",
    `/api/v1/patient-links/${encodeURIComponent(token)}/confirm`,
    { body: { date_of_birth: dateOfBirth } },
  );
  return {
    accessToken: answer.access_token,
    expiresIn: answer.expires_in,
    conversationId: answer.conversation_id,
  };
}

export function linkMessages(api: ApiClient, session: LinkSession): Promise<MessagePage> {
  return api.request<MessagePage>("GET", "/api/v1/patient-links/session/messages", {
    bearer: session.accessToken,
  });
}

export function sendLinkReply(
  api: ApiClient,
  session: LinkSession,
  body: string,
  clientMsgId: string = newClientMsgId(),
): Promise<LinkMessage> {
  return api.request<LinkMessage>("POST", "/api/v1/patient-links/session/messages", {
    bearer: session.accessToken,
    body: { body, client_msg_id: clientMsgId },
  });
}
