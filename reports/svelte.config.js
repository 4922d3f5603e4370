// Evidence merges this into its own SvelteKit configuration (.evidence/template/svelte.config.js).
// Only for `npm run render-pages` with SHOP_RENDER_ONLY (pipeline/reports.py, refresh_site_data with
// pages): render those pages alone, following no links to the others.
const only = process.env.SHOP_RENDER_ONLY;

export default only ? { kit: { prerender: { entries: only.split(','), crawl: false } } } : {};
