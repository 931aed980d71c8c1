// A pure single-page app: rendered in the browser only, served from build/ui by the broker.
export const ssr = false;
export const prerender = false;
