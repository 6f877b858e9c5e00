import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Coordinator } from './coordinator.js';
import type { TrainConfig } from '../train-options.js';
import { prometheusText } from './status.js';
import { tokenMatches } from './server.js';

export interface WebRouteOptions {
  coordinator: Coordinator;
  datasetBytes: Uint8Array;
  token: string;
  config: TrainConfig;
  getStatus: () => unknown;
}

/** HTTP routes: status JSON, Prometheus metrics, the dataset for workers (token required). */
export function webRoutes(o: WebRouteOptions) {
  return (req: IncomingMessage, res: ServerResponse, url: URL): boolean => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return true;
    }
    switch (url.pathname) {
      case '/api/status': {
        const body = JSON.stringify(o.getStatus());
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }).end(body);
        return true;
      }
      case '/metrics':
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' }).end(prometheusText(o.coordinator, o.config));
        return true;
      case '/dataset.bin': {
        const auth = req.headers.authorization;
        const given = url.searchParams.get('token') ?? (auth?.startsWith('Bearer ') ? auth.slice(7) : null);
        if (!tokenMatches(given, o.token)) {
          res.writeHead(401, { 'content-type': 'text/plain; charset=utf-8' }).end('unauthorized: the run token is required\n');
          return true;
        }
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': o.datasetBytes.byteLength, 'cache-control': 'private, max-age=3600' });
        res.end(req.method === 'HEAD' ? undefined : o.datasetBytes);
        return true;
      }
      default:
        return false;
    }
  };
}
