/**
 * RPC routes on `api.dropboxapi.com` that read or rearrange the namespace: metadata, listings
 * (with cursors), folders, deletes, server-side moves and copies, and the two account routes
 * rclone may call (`users/get_current_account` for a root starting with `/`, and
 * `users/get_space_usage` for `rclone about`).
 */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { sendJson } from '../http-util.js';
import { BadInputError, sendRouteError, tag, type Tagged } from './errors.js';
import type { Namespace } from './namespace.js';
import { boolArg, isWellFormed, pathArg, stringArg, taggedMetadata, uintArg, type Args } from './wire.js';

const DEFAULT_LIST_LIMIT = 2000;

/** A listing being paged: a snapshot taken by list_folder, consumed by list_folder/continue. */
interface Listing {
  entries: Tagged[];
  position: number;
  limit: number;
}

export type RpcHandler = (res: ServerResponse, args: Args) => Promise<void> | void;

export class FileRoutes {
  readonly #listings = new Map<string, Listing>();

  constructor(private readonly namespace: Namespace) {}

  readonly routes: Readonly<Record<string, RpcHandler>> = {
    'files/get_metadata': (res, args) => { this.#getMetadata(res, args); },
    'files/list_folder': (res, args) => { this.#listFolder(res, args); },
    'files/list_folder/continue': (res, args) => { this.#listContinue(res, args); },
    'files/list_folder/get_latest_cursor': (res, args) => { this.#latestCursor(res, args); },
    'files/create_folder_v2': (res, args) => { this.#createFolder(res, args); },
    'files/delete_v2': (res, args) => { this.#delete(res, args); },
    'files/move_v2': (res, args) => { this.#relocate(res, args, false); },
    'files/copy_v2': (res, args) => { this.#relocate(res, args, true); },
    'users/get_current_account': (res) => { this.#currentAccount(res); },
    'users/get_space_usage': (res) => { this.#spaceUsage(res); },
  };

  #getMetadata(res: ServerResponse, args: Args): void {
    const path = pathArg(args, 'path');
    if (!isWellFormed(path)) { sendRouteError(res, tag('path', { path: tag('malformed_path') })); return; }
    const entry = this.namespace.get(path);
    if (!entry) { sendRouteError(res, tag('path', { path: tag('not_found') })); return; }
    sendJson(res, 200, taggedMetadata(entry));
  }

  #listFolder(res: ServerResponse, args: Args): void {
    const path = pathArg(args, 'path', { allowRoot: true });
    const limit = uintArg(args, 'limit', DEFAULT_LIST_LIMIT);
    if (limit < 1 || limit > DEFAULT_LIST_LIMIT) throw new BadInputError(`request body: limit: ${limit} is not within range [1, ${DEFAULT_LIST_LIMIT}]`);
    const folder = path === '' ? '' : this.namespace.resolve(path);
    if (folder === undefined || (folder !== '' && !this.namespace.get(folder))) { sendRouteError(res, tag('path', { path: tag('not_found') })); return; }
    const entries = this.namespace.list(folder, boolArg(args, 'recursive', false));
    if (!entries) { sendRouteError(res, tag('path', { path: tag('not_folder') })); return; }
    const cursor = `AA${randomBytes(24).toString('base64url')}`;
    const listing: Listing = { entries: entries.map(taggedMetadata), position: 0, limit };
    this.#listings.set(cursor, listing);
    this.#sendPage(res, cursor, listing);
  }

  #listContinue(res: ServerResponse, args: Args): void {
    const cursor = stringArg(args, 'cursor');
    const listing = this.#listings.get(cursor);
    if (!listing) { sendRouteError(res, tag('reset')); return; }
    this.#sendPage(res, cursor, listing);
  }

  /** A cursor at the end of the listing: later changes are not tracked (no change feed). */
  #latestCursor(res: ServerResponse, args: Args): void {
    pathArg(args, 'path', { allowRoot: true });
    const cursor = `AA${randomBytes(24).toString('base64url')}`;
    this.#listings.set(cursor, { entries: [], position: 0, limit: DEFAULT_LIST_LIMIT });
    sendJson(res, 200, { cursor });
  }

  #sendPage(res: ServerResponse, cursor: string, listing: Listing): void {
    const page = listing.entries.slice(listing.position, listing.position + listing.limit);
    listing.position += page.length;
    const hasMore = listing.position < listing.entries.length;
    sendJson(res, 200, { entries: page, cursor, has_more: hasMore });
  }

  #createFolder(res: ServerResponse, args: Args): void {
    const path = pathArg(args, 'path');
    if (!isWellFormed(path) || path.startsWith('id:')) { sendRouteError(res, tag('path', { path: tag('malformed_path') })); return; }
    const outcome = this.namespace.createFolder(path);
    if (!outcome.ok) { sendRouteError(res, tag('path', { path: tag('conflict', { conflict: tag(outcome.conflict) }) })); return; }
    const { ['.tag']: _tag, ...metadata } = taggedMetadata(outcome.folder);
    sendJson(res, 200, { metadata });
  }

  #delete(res: ServerResponse, args: Args): void {
    const path = pathArg(args, 'path');
    const deleted = this.namespace.delete(path);
    if (!deleted) { sendRouteError(res, tag('path_lookup', { path_lookup: tag('not_found') })); return; }
    sendJson(res, 200, { metadata: taggedMetadata(deleted) });
  }

  #relocate(res: ServerResponse, args: Args, copy: boolean): void {
    const from = pathArg(args, 'from_path');
    const to = pathArg(args, 'to_path');
    if (!isWellFormed(to) || to.startsWith('id:')) { sendRouteError(res, tag('to', { to: tag('malformed_path') })); return; }
    const outcome = this.namespace.relocate(from, to, copy);
    if (outcome.ok) { sendJson(res, 200, { metadata: taggedMetadata(outcome.entry) }); return; }
    switch (outcome.error) {
      case 'from_lookup_not_found':
        { sendRouteError(res, tag('from_lookup', { from_lookup: tag('not_found') })); return; }
      case 'to_conflict':
        { sendRouteError(res, tag('to', { to: tag('conflict', { conflict: tag(outcome.conflict ?? 'file') }) })); return; }
      default:
        { sendRouteError(res, tag(outcome.error)); return; }
    }
  }

  #currentAccount(res: ServerResponse): void {
    sendJson(res, 200, {
      account_id: 'dbid:AAStandinAccount000000000000000000000',
      name: { given_name: 'Stand', surname: 'In', familiar_name: 'Stand', display_name: 'Stand In', abbreviated_name: 'SI' },
      email: 'standin@example.test',
      email_verified: true,
      disabled: false,
      locale: 'en',
      referral_link: 'https://www.dropbox.com/referrals/standin',
      is_paired: false,
      account_type: tag('basic'),
      root_info: tag('user', { root_namespace_id: '1', home_namespace_id: '1' }),
      country: 'CH',
    });
  }

  #spaceUsage(res: ServerResponse): void {
    const used = this.namespace.files().reduce((sum, file) => sum + file.data.length, 0);
    sendJson(res, 200, { used, allocation: tag('individual', { allocated: 2 * 1024 ** 4 }) });
  }
}
