/**
 * Microsoft Graph error responses: `{"error":{"code","message","innerError":{…}}}`. rclone's
 * onedrive backend decodes `code` (`itemNotFound` means "object not found", `nameAlreadyExists`
 * gets a OneNote hint) and shows `code: message`.
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { sendJson } from '../http-util.js';

export function sendGraphError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  const requestId = randomUUID();
  sendJson(
    res,
    status,
    { error: { code, message, innerError: { date: new Date().toISOString().slice(0, 19), 'request-id': requestId, 'client-request-id': requestId } } },
    { 'request-id': requestId, ...headers },
  );
}

export function sendItemNotFound(res: ServerResponse): void {
  sendGraphError(res, 404, 'itemNotFound', 'Item does not exist');
}

export function sendNameAlreadyExists(res: ServerResponse): void {
  sendGraphError(res, 409, 'nameAlreadyExists', 'Name already exists');
}

export function sendInvalidRequest(res: ServerResponse, message: string): void {
  sendGraphError(res, 400, 'invalidRequest', message);
}
