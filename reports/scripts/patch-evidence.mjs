#!/usr/bin/env node
// Makes Evidence build and run with no internet (run by `npm install` as postinstall).
//
// Why: Evidence's universal-sql reads parquet through DuckDB-WASM, whose `read_parquet` downloads
// DuckDB's parquet extension from the extension server when first used. Offline, that download
// never returns: `npm run sources` and `npm run build` hang forever, and in the browser the
// interactive inputs never get their data (upstream: evidence#3155, duckdb-wasm#2010/#2252).
// This script replaces those three uses of parquet with parquet-wasm (already a dependency of
// universal-sql) and Arrow IPC, which DuckDB-WASM imports without any extension:
//   - build-parquet.js     `npm run sources`: merge the batch files with parquet-wasm, not DuckDB;
//   - client-duckdb/node.js  `npm run build`: load each source table as an Arrow table;
//   - client-duckdb/browser.js  the site: fetch each parquet file, decode it, load it as Arrow.
// It also turns DuckDB-WASM's extension autoloading off, so any other extension a query needs
// fails at once with an error instead of hanging.
//
// It refuses to run (exit 1) unless the files are exactly the ones it was written for: after an
// Evidence upgrade, re-read the new code, then update EXPECTED and the edits below.
//
//   node scripts/patch-evidence.mjs           patch (idempotent)
//   node scripts/patch-evidence.mjs --check   only verify that node_modules is patched
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPORTS = join(dirname(fileURLToPath(import.meta.url)), '..');
const MODULES = join(REPORTS, 'node_modules');
const USQL = join(MODULES, '@evidence-dev/universal-sql/src');
const HEADER = '// Patched for offline use by reports/scripts/patch-evidence.mjs; original in *.unpatched\n';

const EXPECTED_VERSIONS = {
	'@evidence-dev/universal-sql': '3.0.1',
	'@duckdb/duckdb-wasm': '1.32.0',
	'parquet-wasm': '0.5.0',
	'apache-arrow': '17.0.0'
};

const NO_EXTENSION_DOWNLOADS = [
	"await connection.query('SET old_implicit_casting = true;');",
	`await connection.query('SET old_implicit_casting = true;');
		// Patched: never download an extension (offline that hangs); fail the query instead.
		await connection.query('SET autoinstall_known_extensions = false;');
		await connection.query('SET autoload_known_extensions = false;');`
];

const PATCHES = [
	{
		file: 'build-parquet.js',
		sha256: '7376c2878449348d9f3a26f16446fc24e391545714a6be3764634fc10f9d64de',
		edits: [
			[
				`import {
	tableFromArrays,
	tableToIPC,`,
				`import {
	Table as ArrowTable,
	tableFromArrays,
	tableFromIPC,
	tableToIPC,`
			],
			[
				`	writeParquet,
	WriterPropertiesBuilder,
	Table
} from 'parquet-wasm/node/arrow1.js';`,
				`	readParquet,
	writeParquet,
	WriterPropertiesBuilder,
	Table
} from 'parquet-wasm/node/arrow1.js';`
			],
			[
				"import { emptyDbFs, initDB, query } from './client-duckdb/node.js';\n",
				''
			],
			[
				`	if (!tmpFilenames.length) return 0;

	await initDB();

	const outputFilepath = path.join(outDir, outputFilename);

	const parquetFiles = tmpFilenames.map((filename) => \`'\${filename.replaceAll('\\\\', '/')}'\`);

	const select = \`SELECT * FROM read_parquet([\${parquetFiles.join(',')}])\`;
	const copy = \`COPY (\${select}) TO '\${outputFilepath}' (FORMAT 'PARQUET', CODEC 'ZSTD', USE_TMP_FILE false);\`;

	await fs.mkdir(path.dirname(outputFilepath), { recursive: true });
	await query(copy);
`,
				`	const outputFilepath = path.join(outDir, outputFilename);

	// Patched: merge the batch files with parquet-wasm (DuckDB-WASM's read_parquet hangs offline).
	// A query without rows still gets its table (typed, empty): the pages reading it then show
	// "no data" instead of failing on a missing file.
	let mergedArrow = emptyArrowTable(columns);
	if (tmpFilenames.length) {
		const batches = [];
		for (const filename of tmpFilenames) {
			const ipc = readParquet(await fs.readFile(filename)).intoIPCStream();
			batches.push(...tableFromIPC(ipc).batches);
		}
		mergedArrow = new ArrowTable(batches);
	}
	const merged = Table.fromIPCStream(tableToIPC(mergedArrow, 'stream'));
	const mergedParquet = writeParquet(
		merged,
		new WriterPropertiesBuilder().setCompression(Compression.ZSTD).build()
	);

	await fs.mkdir(path.dirname(outputFilepath), { recursive: true });
	await fs.writeFile(outputFilepath, mergedParquet);
`
			],
			["\tawait emptyDbFs('*');\n\n\tfn_done();", '\tfn_done();'],
			[
				'/**\n * @param {{name: string, evidenceType: string}} column\n * @param {any[]} rawValues',
				`/**
 * Patched: an empty table with the query's columns and types.
 * @param {{name: string, evidenceType: string}[]} columns
 */
function emptyArrowTable(columns) {
	const types = { number: Float64, string: Utf8, date: TimestampMillisecond, boolean: Bool };
	return tableFromArrays(
		Object.fromEntries(columns.map((c) => [c.name, vectorFromArray([], new types[c.evidenceType]())]))
	);
}

/**
 * @param {{name: string, evidenceType: string}} column
 * @param {any[]} rawValues`
			]
		]
	},
	{
		file: 'client-duckdb/node.js',
		sha256: 'b1bbf1f5ae190acefe0f3ceb70d404b7798643523cc20cc4f4d5e24fbaffb471',
		edits: [
			[
				"import { createRequire } from 'module';",
				`import { createRequire } from 'module';
import { readFileSync } from 'fs';
// parquet-wasm's arrow2 reader: arrow1 panics on a file without rows (an empty query result).
import { readParquet } from 'parquet-wasm/node/arrow2.js';`
			],
			NO_EXTENSION_DOWNLOADS,
			[
				`			db.registerFileURL(
				file_name,
				url.split(pathDelimiterRegex).join(path.sep),
				DuckDBDataProtocol.NODE_FS,
				false
			);
			connection.query(
				\`CREATE OR REPLACE VIEW "\${source}"."\${table}" AS (SELECT * FROM read_parquet('\${file_name}'));\`
			);`,
				`			// Patched: load the table as Arrow (DuckDB-WASM's read_parquet hangs offline).
			const parquet = readFileSync(url.split(pathDelimiterRegex).join(path.sep));
			connection.query(\`DROP TABLE IF EXISTS "\${source}"."\${table}";\`);
			connection.insertArrowFromIPCStream(readParquet(parquet).intoIPCStream(), {
				schema: source,
				name: table,
				create: true
			});`
			]
		]
	},
	{
		file: 'client-duckdb/browser.js',
		sha256: 'ea0c7f043bac9582e8c933764c386972c1e57fc78ee05c077370a9a0d8b012c6',
		edits: [
			[
				"export { tableFromIPC } from 'apache-arrow';",
				`// parquet-wasm's arrow2 reader: arrow1 panics on a file without rows (an empty query result).
import initParquetWasm, { readParquet } from 'parquet-wasm/esm/arrow2.js';
import parquetWasmUrl from 'parquet-wasm/esm/arrow2_bg.wasm?url';

export { tableFromIPC } from 'apache-arrow';

/** @type {Promise<unknown> | undefined} */
let parquetWasmReady;`
			],
			NO_EXTENSION_DOWNLOADS,
			[
				`				await db.registerFileURL(file_name, addBasePath(path), DuckDBDataProtocol.HTTP, false);
				await connection.query(
					\`CREATE OR REPLACE VIEW "\${source}"."\${table}" AS (SELECT * FROM read_parquet('\${file_name}'));\`
				);`,
				`				// Patched: fetch the file and load it as Arrow (DuckDB-WASM's read_parquet
				// downloads the parquet extension, which fails offline).
				const response = await fetch(addBasePath(path));
				if (!response.ok) throw new Error(\`Could not load \${path}: HTTP \${response.status}\`);
				const parquet = new Uint8Array(await response.arrayBuffer());
				await (parquetWasmReady ??= initParquetWasm(parquetWasmUrl));
				await connection.query(\`DROP TABLE IF EXISTS "\${source}"."\${table}";\`);
				await connection.insertArrowFromIPCStream(readParquet(parquet).intoIPCStream(), {
					schema: source,
					name: table,
					create: true
				});`
			]
		]
	}
];

const sha256 = (text) => createHash('sha256').update(text).digest('hex');

function applyEdits(original, edits, file) {
	let text = original;
	for (const [find, replace] of edits) {
		const count = text.split(find).length - 1;
		if (count !== 1) throw new Error(`${file}: expected the code to patch exactly once, found ${count}`);
		text = text.replace(find, () => replace);
	}
	return HEADER + text;
}

function checkVersions() {
	const wrong = [];
	for (const [name, version] of Object.entries(EXPECTED_VERSIONS)) {
		const manifest = join(MODULES, name, 'package.json');
		const found = existsSync(manifest) ? JSON.parse(readFileSync(manifest, 'utf8')).version : 'missing';
		if (found !== version) wrong.push(`${name} ${found} (patch written for ${version})`);
	}
	return wrong;
}

function main(checkOnly) {
	const problems = checkVersions();
	for (const { file, sha256: expected, edits } of PATCHES) {
		const target = join(USQL, file);
		const backup = `${target}.unpatched`;
		if (!existsSync(target)) {
			problems.push(`${file}: missing (run npm install in reports/)`);
			continue;
		}
		const current = readFileSync(target, 'utf8');
		if (existsSync(backup) && sha256(readFileSync(backup, 'utf8')) === expected) {
			if (current === applyEdits(readFileSync(backup, 'utf8'), edits, file)) continue;
		}
		if (sha256(current) !== expected) {
			problems.push(`${file}: sha256 ${sha256(current)} is not the reviewed ${expected}`);
			continue;
		}
		if (checkOnly) {
			problems.push(`${file}: not patched (run: npm run postinstall, in reports/)`);
			continue;
		}
		const patched = applyEdits(current, edits, file);
		writeFileSync(backup, current);
		writeFileSync(target, patched);
		console.log(`patched ${file}`);
	}
	if (problems.length) {
		console.error(
			'Evidence offline patch: refusing to continue, the code it relies on is not as reviewed:\n  ' +
				problems.join('\n  ') +
				'\nSee reports/scripts/patch-evidence.mjs (why it exists and how to update it).'
		);
		process.exit(1);
	}
	if (checkOnly) console.log('Evidence offline patch: in place');
}

main(process.argv.includes('--check'));
