import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';

/** One static file of the console, named by its content hash so it can be cached forever. */
export interface Asset {
  /** `/console/assets/app.3f9c1e….js` */
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

function load(file: string, type: string): Asset {
  const body = readFileSync(new URL(file, UI_DIR));
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 16);
  const dot = file.lastIndexOf('.');
  return { path: `/console/assets/${file.slice(0, dot)}.${hash}${file.slice(dot)}`, type, body };
}

export function loadConsoleAssets(): ConsoleAssets {
  const script = load('app.js', 'text/javascript; charset=utf-8');
  const style = load('app.css', 'text/css; charset=utf-8');
  const byPath = new Map([script, style].map((a) => [a.path, a]));
  return { script, style, find: (path) => byPath.get(path) };
}

export function sendAsset(res: ServerResponse, asset: Asset, headers: Record<string, string>): void {
  res.writeHead(200, {
    ...headers,
    'content-type': asset.type,
    'content-length': String(asset.body.length),
    // The name changes whenever the content does.
    'cache-control': 'public, max-age=31536000, immutable',
  });
  res.end(asset.body);
}
