import { createHash, randomBytes } from 'node:crypto';
import { createSecretBox } from '@zenmesh/crypto';
import type { Redis } from 'ioredis';

/** What the console keeps about one signed-in browser. Never sent to it: the cookie holds only the id. */
export interface ConsoleSession {
  /** The user's id (`sub`) and, for a tenant member, their tenant; null = cluster-wide. */
  subject: string;
  username: string;
  tenantId: string | null;
  scopes: string[];
  accessToken: string;
  /** Epoch ms at which the access token expires. */
  accessExpiresAt: number;
  refreshToken: string | null;
  /** The anti-forgery token every state-changing request of this session must carry. */
  csrfToken: string;
  /** Epoch ms of sign-in (the absolute timeout counts from here) and of the last request (idle timeout). */
  createdAt: number;
  lastSeenAt: number;
}

/** A sign-in in progress: what the callback must find again (bound to the browser by a cookie). */
export interface PendingLogin {
  state: string;
  codeVerifier: string;
  nonce: string;
  /** Where to go after sign-in (a console path only). */
  returnTo: string;
}

export interface SessionTimeouts {
  /** A session unused this long is gone (ms). */
  idleMs: number;
  /** A session older than this is gone however busy it is (ms). */
  absoluteMs: number;
}

/**
 * Sessions and pending sign-ins by opaque id. Ids are 256-bit random and stored only as their SHA-256, so
 * a copy of the store (a Redis dump) signs nobody in.
 */
export interface SessionStore {
  create(session: ConsoleSession): Promise<string>;
  /** The live session for this id, its last-seen time moved to now; null when unknown, idle or too old. */
  touch(id: string): Promise<ConsoleSession | null>;
  /** Replaces the session's data (after a token refresh), keeping its id and timeouts. */
  update(id: string, session: ConsoleSession): Promise<void>;
  destroy(id: string): Promise<ConsoleSession | null>;
  savePending(pending: PendingLogin): Promise<string>;
  /** Takes a pending sign-in once: a second call with the same id finds nothing. */
  takePending(id: string): Promise<PendingLogin | null>;
}

const PENDING_TTL_MS = 10 * 60_000;
export const newId = (): string => randomBytes(32).toString('base64url');
const digest = (id: string): string => createHash('sha256').update(id).digest('base64url');

/** Whether `s` is still live at `now` under `t`. */
export const isLive = (s: ConsoleSession, t: SessionTimeouts, now: number): boolean =>
  now - s.lastSeenAt < t.idleMs && now - s.createdAt < t.absoluteMs;

/** How long a live session may stay stored: until whichever timeout comes first. */
const remainingMs = (s: ConsoleSession, t: SessionTimeouts, now: number): number =>
  Math.max(1, Math.min(s.lastSeenAt + t.idleMs, s.createdAt + t.absoluteMs) - now);

/** One process's sessions: right for one bff instance (sign-ins do not survive a restart). */
export function createMemorySessionStore(
  timeouts: SessionTimeouts,
  now: () => number = Date.now,
): SessionStore {
  const sessions = new Map<string, ConsoleSession>();
  const pending = new Map<string, { value: PendingLogin; until: number }>();
  const sweep = () => {
    const t = now();
    for (const [k, s] of sessions) if (!isLive(s, timeouts, t)) sessions.delete(k);
    for (const [k, p] of pending) if (p.until <= t) pending.delete(k);
  };
  return {
    async create(session) {
      if (sessions.size > 10_000) sweep();
      const id = newId();
      sessions.set(digest(id), { ...session });
      return id;
    },
    async touch(id) {
      const key = digest(id);
      const s = sessions.get(key);
      if (s === undefined) return null;
      const t = now();
      if (!isLive(s, timeouts, t)) {
        sessions.delete(key);
        return null;
      }
      s.lastSeenAt = t;
      return { ...s };
    },
    async update(id, session) {
      const key = digest(id);
      const current = sessions.get(key);
      if (current !== undefined) sessions.set(key, { ...session, lastSeenAt: current.lastSeenAt });
    },
    async destroy(id) {
      const key = digest(id);
      const s = sessions.get(key) ?? null;
      sessions.delete(key);
      return s;
    },
    async savePending(value) {
      if (pending.size > 10_000) sweep();
      const id = newId();
      pending.set(digest(id), { value, until: now() + PENDING_TTL_MS });
      return id;
    },
    async takePending(id) {
      const key = digest(id);
      const p = pending.get(key);
      pending.delete(key);
      return p !== undefined && p.until > now() ? p.value : null;
    },
  };
}

// Replaces a session's data only while it exists: an update never resurrects a destroyed session.
const UPDATE_IF_EXISTS = `if redis.call('exists', KEYS[1]) == 1 then
  redis.call('hset', KEYS[1], 'data', ARGV[1]) return 1 end return 0`;

/**
 * Sessions in Redis under `prefix`, shared by every bff instance, as a hash: `data` (the tokens) and `seen`
 * (last use), so that marking a use never writes back tokens another request has just refreshed. The key
 * expires at the nearer timeout. `data` is sealed (AES-256-GCM) under a key derived from the session id, which
 * only the browser's cookie holds: a copy of Redis yields neither a usable id nor the tokens.
 */
export function createRedisSessionStore(
  redis: Redis,
  timeouts: SessionTimeouts,
  options: { prefix?: string; now?: () => number } = {},
): SessionStore {
  const prefix = options.prefix ?? 'zenmesh:console:';
  const now = options.now ?? Date.now;
  const sessionKey = (id: string) => `${prefix}s:${digest(id)}`;
  const pendingKey = (id: string) => `${prefix}p:${digest(id)}`;
  const box = (id: string) => createSecretBox(Buffer.from(id, 'base64url'), 'console-session');
  const data = (id: string, s: ConsoleSession) =>
    box(id).seal(JSON.stringify({ ...s, lastSeenAt: undefined }), digest(id));
  const unseal = (id: string, sealed: string): ConsoleSession | null => {
    try {
      return JSON.parse(box(id).open(sealed, digest(id))) as ConsoleSession;
    } catch {
      return null;
    }
  };
  return {
    async create(session) {
      const id = newId();
      await redis
        .multi()
        .hset(sessionKey(id), 'data', data(id, session), 'seen', String(session.lastSeenAt))
        .pexpire(sessionKey(id), remainingMs(session, timeouts, now()))
        .exec();
      return id;
    },
    async touch(id) {
      const key = sessionKey(id);
      const [raw, seen] = await redis.hmget(key, 'data', 'seen');
      const opened = raw === null || raw === undefined ? null : unseal(id, raw);
      if (opened === null) return null;
      const s = { ...opened, lastSeenAt: Number(seen) };
      const t = now();
      if (!isLive(s, timeouts, t)) {
        await redis.del(key);
        return null;
      }
      s.lastSeenAt = t;
      await redis
        .multi()
        .hset(key, 'seen', String(t))
        .pexpire(key, remainingMs(s, timeouts, t))
        .exec();
      return s;
    },
    async update(id, session) {
      await redis.eval(UPDATE_IF_EXISTS, 1, sessionKey(id), data(id, session));
    },
    async destroy(id) {
      const key = sessionKey(id);
      const result = await redis.multi().hget(key, 'data').del(key).exec();
      const raw = result?.[0]?.[1];
      return typeof raw === 'string' ? unseal(id, raw) : null;
    },
    async savePending(value) {
      const id = newId();
      await redis.set(pendingKey(id), JSON.stringify(value), 'PX', PENDING_TTL_MS, 'NX');
      return id;
    },
    async takePending(id) {
      const raw = await redis.getdel(pendingKey(id));
      return raw === null ? null : (JSON.parse(raw) as PendingLogin);
    },
  };
}
