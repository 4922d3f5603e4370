#!/usr/bin/env node
// Renders the last build's pages again with the current data (`npm run render-pages`, after
// `npm run sources`), without compiling the site: pipeline.reports.refresh_site_data then puts the
// pages, their query results and the data into the published site.
//
// Why: a built Evidence page does not query the data when it opens. `evidence build` renders each
// page on the server (SvelteKit's prerender) with the data of that moment: the figures are in its
// HTML, and the results of its queries are files (api/prerendered_queries/*.arrow) that the browser
// loads instead of querying. New parquet files and a new data/manifest.json alone change nothing
// on a page. Of a build (~60 s), most is compiling the pages (vite); rendering them is ~10 s. This
// runs SvelteKit's two post-build steps on the compiled server that `evidence build` left in
// .evidence/template/.svelte-kit/output, as its Vite plugin does: analyse (which routes
// prerender), then prerender (into .svelte-kit/output/prerendered/{pages,dependencies}). With
// SHOP_RENDER_ONLY (route ids, e.g. /real-time) it renders those pages alone: the real-time run
// refreshes its own page.
//
// These are SvelteKit's internal modules: it refuses to run (exit 1) unless SvelteKit is the
// version this was written for. After an upgrade, re-read `prerender` and `analyse` in
// @sveltejs/kit/src/exports/vite/index.js, then update EXPECTED_KIT.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPORTS = join(dirname(fileURLToPath(import.meta.url)), '..');
const KIT = join(REPORTS, 'node_modules', '@sveltejs', 'kit');
const EXPECTED_KIT = '2.8.4';
const OUTPUT = join(REPORTS, '.evidence', 'template', '.svelte-kit', 'output');
const MANIFEST = join(OUTPUT, 'server', 'manifest-full.js');

const kitVersion = JSON.parse(readFileSync(join(KIT, 'package.json'), 'utf8')).version;
if (kitVersion !== EXPECTED_KIT) {
	console.error(`@sveltejs/kit is ${kitVersion}, this script was written for ${EXPECTED_KIT}`);
	process.exit(1);
}
if (!existsSync(MANIFEST)) {
	console.error(`No compiled site in ${OUTPUT}: run \`npm run build\` first`);
	process.exit(1);
}

// Evidence's pages read ./static/data and write their query results under ./.svelte-kit and
// ./.evidence-queries (emptied first, as `evidence build` does, or it grows with every render).
process.chdir(join(REPORTS, '.evidence', 'template'));
rmSync('.evidence-queries/cache', { recursive: true, force: true });
const kit = (file) => import(pathToFileURL(join(KIT, 'src', file)).href);
const { load_config } = await kit('core/config/index.js');
const { default: create_manifest_data } = await kit('core/sync/create_manifest_data/index.js');
const { default: analyse } = await kit('core/postbuild/analyse.js');
const { default: prerender } = await kit('core/postbuild/prerender.js');

const config = await load_config();
const env = { ...process.env };
const manifest_data = create_manifest_data({ config });
// SHOP_RENDER_ONLY=/real-time,...: those pages alone. svelte.config.js turns the crawl off, and
// the analysis of every route (~4 s) is not needed: the build prerendered every page.
const only = process.env.SHOP_RENDER_ONLY?.split(',');
const unknown = only?.filter((id) => !manifest_data.routes.some((route) => route.id === id)) ?? [];
if (unknown.length) {
	console.error(`SHOP_RENDER_ONLY: no page ${unknown.join(', ')} in the compiled site`);
	process.exit(1);
}
const metadata = only
	? { nodes: [], routes: new Map(only.map((id) => [id, { prerender: true }])) }
	: await analyse({
			manifest_path: MANIFEST,
			manifest_data,
			server_manifest: JSON.parse(readFileSync(join(OUTPUT, 'server', '.vite', 'manifest.json'), 'utf8')),
			tracked_features: {},
			env
		});
rmSync(join(OUTPUT, 'prerendered'), { recursive: true, force: true });
const { prerendered } = await prerender({ out: OUTPUT, manifest_path: MANIFEST, metadata, verbose: false, env });
console.log(`rendered ${prerendered.pages.size} pages into ${join(OUTPUT, 'prerendered')}`);
