import { trpc, type ImportJob } from './trpc.ts';

export const DRIVER_PAGE_SIZE = 50;

/** The largest file the broker takes (its CSV_MAX_CHARS). */
export const IMPORT_MAX_BYTES = 32 * 1024 * 1024;

/** How often a running import is asked how far it has got. */
const IMPORT_POLL_MS = 300;

/** The drivers page of a tenant: `?search=…&offset=…`, without the empty ones. */
export function driversHref(tenantId: number, search: string, offset = 0): string {
  const params = new URLSearchParams();
  if (search.trim()) params.set('search', search.trim());
  if (offset > 0) params.set('offset', String(offset));
  const query = params.toString();
  return `/tenants/${tenantId}/drivers${query && `?${query}`}`;
}

/**
 * Badges as an admin types them: separated by commas, as in the CSV's `badge_ids` (badges cannot hold commas).
 * Empty entries stay, for the schema to report ("A,,B").
 */
export function parseBadges(text: string): string[] {
  return text.trim() === '' ? [] : text.split(',');
}

/** A file's bytes as base64, for `importStart({ csvBase64 })`: the broker then decodes them strictly as UTF-8. */
export function readBase64(file: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => {
      const url = reader.result as string;
      resolve(url.slice(url.indexOf(',') + 1));
    };
    reader.onerror = () => reject(reader.error ?? new Error('Could not read the file'));
    reader.readAsDataURL(file);
  });
}

/**
 * Asks how an import job is doing until it has finished, reporting each answer; resolves with the last one.
 * Stops (rejecting with an AbortError) when `signal` aborts: the page was left.
 */
export async function watchImport(jobId: string, onStatus: (job: ImportJob) => void, signal: AbortSignal): Promise<ImportJob> {
  for (;;) {
    signal.throwIfAborted();
    const job = await trpc.drivers.importStatus.query({ jobId }, { signal });
    onStatus(job);
    if (job.phase === 'done' || job.phase === 'failed') return job;
    await new Promise((resolve) => setTimeout(resolve, IMPORT_POLL_MS));
  }
}

/** What a phase is called while it runs. */
export const PHASES: Record<ImportJob['phase'], string> = {
  parsing: 'Reading the file',
  checking: 'Checking against the driver list',
  applying: 'Writing',
  done: 'Done',
  failed: 'Failed',
};
