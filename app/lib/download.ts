/**
 * Saves text as a file the browser downloads: a Blob link, clicked, then released. For PEM files the broker
 * gives as text (its server certificate, a certificate request).
 */
export function saveText(filename: string, text: string, type = 'application/x-pem-file'): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = Object.assign(document.createElement('a'), { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  // Released later, not at once: some browsers still read the Blob after the click has returned.
  setTimeout(() => URL.revokeObjectURL(url), 30_000);
}

/** A file name from parts that may hold any character (a station identity): letters, digits, '.', '_' and '-'. */
export function fileName(...parts: string[]): string {
  return parts
    .map((part) => part.replace(/[^A-Za-z0-9._-]+/g, '_'))
    .filter(Boolean)
    .join('-');
}
