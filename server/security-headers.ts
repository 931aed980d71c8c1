import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';

/**
 * The headers every answer carries (UI and API alike): no framing by other sites (clickjacking), no MIME sniffing,
 * no Referer to other sites, and a Content-Security-Policy that allows the UI's own files and nothing else.
 */
export function setSecurityHeaders(res: ServerResponse, contentSecurityPolicy: string): void {
  res.setHeader('Content-Security-Policy', contentSecurityPolicy);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Frame-Options', 'DENY'); // for browsers older than frame-ancestors
}

/**
 * The policy for the single-page UI built into `indexHtml`. SvelteKit's static build starts the app with an inline
 * `<script>`, allowed by its SHA-256 (CSP Level 3 §8.4), so `script-src` needs no 'unsafe-inline'. Styles do allow
 * inline: Svelte writes `style` attributes and transitions insert style rules; scripts are what matters.
 */
export function contentSecurityPolicy(indexHtml: string | undefined): string {
  const hashes = indexHtml === undefined ? [] : inlineScripts(indexHtml).map((script) => `'sha256-${createHash('sha256').update(script).digest('base64')}'`);
  return [
    "default-src 'self'",
    `script-src 'self'${hashes.map((h) => ` ${h}`).join('')}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** The text of each `<script>` without a `src`, exactly as the browser hashes it. */
export function inlineScripts(html: string): string[] {
  return [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script\s*>/gi)]
    .filter(([, attributes]) => !/\bsrc\s*=/i.test(attributes!))
    .map(([, , body]) => body!);
}
