import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';

/** One static file of the console, under a directory named by the hash of every file (cacheable forever). */
export interface Asset {
  /** `/console/assets/3f9c1e…/app.js` */
  path: string;
  type: string;
  body: Buffer;
}

export interface ConsoleAssets {
  script: Asset;
  style: Asset;
  find(path: string): Asset | undefined;
}

/** The browser half lives in `services/bff/console-ui/` (shipped with the package, no build step, no CDN). */
const UI_DIR = new URL('../../console-ui/', import.meta.url);
const TYPES: Record<string, string> = {
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};

/**
 * Loads every .js and .css file of the console. They share one directory whose name is the SHA-256 of all of
 * them, so the modules' relative imports (`./kit.js`) keep working and any change renames every file.
 */
export function loadConsoleAssets(): ConsoleAssets {
  const files = readdirSync(UI_DIR)
    .filter((f) => /^[a-z-]+\.(js|css)$/.test(f))
    .sort()
    .map((name) => ({ name, body: readFileSync(new URL(name, UI_DIR)) }));
  const digest = createHash('sha256');
  for (const f of files) digest.update(`${f.name}\n${f.body.length}\n`).update(f.body);
  const dir = `/console/assets/${digest.digest('hex').slice(0, 16)}`;
  const byPath = new Map<string, Asset>(
    files.map((f) => [
      `${dir}/${f.name}`,
      { path: `${dir}/${f.name}`, type: TYPES[f.name.split('.').pop() ?? ''] ?? '', body: f.body },
    ]),
  );
  const must = (name: string): Asset => {
    const asset = byPath.get(`${dir}/${name}`);
    if (asset === undefined) throw new TypeError(`console-ui/${name} is missing`);
    return asset;
  };
  return { script: must('app.js'), style: must('app.css'), find: (path) => byPath.get(path) };
}

export function sendAsset(res: ServerResponse, asset: Asset, headers: Record<string, string>): void {
  res.writeHead(200, {
    ...headers,
    'content-type': asset.type,
    'content-length': String(asset.body.length),
    // The directory's name changes whenever any file does.
    'cache-control': 'public, max-age=31536000, immutable',
  });
  res.end(asset.body);
}
