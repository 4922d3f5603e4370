#!/usr/bin/env node
// Points the sources at this environment's warehouse (run before `npm run sources`).
//
// Evidence takes a source's type from its connection.yaml and lets the environment override only
// its options, so the warehouse is chosen by copying environments/<SHOP_WAREHOUSE>/:
//   SHOP_WAREHOUSE=duckdb (default)  the local marts, $SHOP_HOME/warehouse/analytics.duckdb
//                                    (SHOP_HOME defaults to <repo>/.local)
//   SHOP_WAREHOUSE=snowflake         ANALYTICS.MARTS on Snowflake (environments/snowflake/)
// For each source there, its connection.yaml goes to sources/<source>/ and so do its own *.sql
// files (the costs source reads different system tables on each engine). The `warehouse`
// source's queries are shared (sources/warehouse/*.sql), so the pages are the same in both.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPORTS = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const warehouse = process.env.SHOP_WAREHOUSE || 'duckdb';
const environment = join(REPORTS, 'environments', warehouse);

if (!existsSync(environment)) {
	console.error(`SHOP_WAREHOUSE=${warehouse}: no environments/${warehouse}/ (use duckdb or snowflake)`);
	process.exit(1);
}

let database;
if (warehouse === 'duckdb') {
	const home = resolve(process.env.SHOP_HOME || join(REPORTS, '..', '.local'));
	database = join(home, 'warehouse', 'analytics.duckdb');
	if (!existsSync(database)) {
		console.error(`No warehouse at ${database}: build the marts first (dbt build, or \`shop demo\`).`);
		process.exit(1);
	}
}

for (const source of readdirSync(environment)) {
	const from = join(environment, source);
	const to = join(REPORTS, 'sources', source);
	mkdirSync(to, { recursive: true });
	// Remove the other environment's queries; keep the shared ones (those not in environments/).
	for (const file of readdirSync(to)) {
		if (file.endsWith('.sql') && isEnvironmentSpecific(source, file)) rmSync(join(to, file));
	}
	let connection = readFileSync(join(from, 'connection.yaml'), 'utf8');
	if (database) {
		// The DuckDB connector joins `filename` to the source directory, so it must be relative.
		const filename = JSON.stringify(relative(to, database));
		connection = connection.replace(/^  filename: .*$/m, `  filename: ${filename}`);
	}
	const header = `# Written by scripts/select-environment.mjs from environments/${warehouse}/${source}/; do not edit.\n`;
	writeFileSync(join(to, 'connection.yaml'), header + connection);
	for (const file of readdirSync(from)) {
		if (file.endsWith('.sql')) copyFileSync(join(from, file), join(to, file));
	}
}
console.log(`sources read ${warehouse}${database ? ` (${database})` : ''}`);

function isEnvironmentSpecific(source, file) {
	return readdirSync(join(REPORTS, 'environments')).some((env) =>
		existsSync(join(REPORTS, 'environments', env, source, file))
	);
}
