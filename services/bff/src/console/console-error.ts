import { ZenMeshError } from '@zenmesh/errors';

export type ConsoleErrorCode =
  /** The console's configuration is unusable (e.g. a plain-http public URL off loopback). */
  | 'ERR_CONSOLE_CONFIG'
  /** The console has no OAuth client registration yet (its client file does not exist). */
  | 'ERR_CONSOLE_NOT_REGISTERED'
  /** The token service refused or could not be reached during sign-in, refresh or revocation. */
  | 'ERR_CONSOLE_UPSTREAM';

export class ConsoleError extends ZenMeshError<ConsoleErrorCode> {
  override readonly name = 'ConsoleError';
}
