#!/usr/bin/env node
// Writes sources/warehouse/connection.yaml for this environment (run before `npm run sources`).
//
// Evidence takes a source's type from its connection.yaml and lets the environment override only
// its options, so the warehouse is chosen by copying connections/<SHOP_WAREHOUSE>.yaml:
//   SHOP_WAREHOUSE=duckdb (default)  the local marts, $SHOP_HOME/warehouse/analytics.duckdb
//                                    (SHOP_HOME defaults to <repo>/.local)
//   SHOP_WAREHOUSE=snowflake         ANALYTICS.MARTS on Snowflake (see connections/snowflake.yaml)
// The source keeps one name, `warehouse`, so the pages are the same in both.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPORTS = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE_DIR = join(REPORTS, 'sources', 'warehouse');
const warehouse = process.env.SHOP_WAREHOUSE || 'duckdb';
const template = join(REPORTS, 'connections', `${warehouse}.yaml`);

if (!existsSync(template)) {
	console.error(`SHOP_WAREHOUSE=${warehouse}: no connections/${warehouse}.yaml (use duckdb or snowflake)`);
	process.exit(1);
}

let connection = readFileSync(template, 'utf8');
let where = 'Snowflake ANALYTICS.MARTS';
if (warehouse === 'duckdb') {
	const home = resolve(process.env.SHOP_HOME || join(REPORTS, '..', '.local'));
	const database = join(home, 'warehouse', 'analytics.duckdb');
	if (!existsSync(database)) {
		console.error(`No warehouse at ${database}: build the marts first (dbt, or \`shop demo\`).`);
		process.exit(1);
	}
	// The DuckDB connector joins `filename` to the source directory, so it must be relative.
	connection = connection.replace(
		/^  filename: .*$/m,
		`  filename: ${JSON.stringify(relative(SOURCE_DIR, database))}`
	);
	where = database;
}

const header = `# Written by scripts/select-connection.mjs from connections/${warehouse}.yaml; do not edit.\n`;
writeFileSync(join(SOURCE_DIR, 'connection.yaml'), header + connection);
console.log(`warehouse source: ${warehouse} (${where})`);
