/** Where a paged list starts, from `?offset=` in the URL: a whole number, 0 otherwise. */
export function offsetFromUrl(params: URLSearchParams): number {
  const offset = Number(params.get('offset'));
  return Number.isSafeInteger(offset) && offset > 0 ? offset : 0;
}
