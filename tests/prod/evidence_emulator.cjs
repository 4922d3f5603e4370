// Test-only Node preload: points snowflake-sdk (under Evidence's Snowflake connector) at the
// Snowflake emulator of the prod-path tests. The connector passes no host or URL to the driver,
// so this sets the driver's own `accessUrl` option on every connection it creates:
//
//   NODE_OPTIONS="--require tests/prod/evidence_emulator.cjs" \
//   SNOWFLAKE_HOST=127.0.0.1 SNOWFLAKE_PORT=8123 SNOWFLAKE_PROTOCOL=http npm run sources
//
// Without SNOWFLAKE_HOST it does nothing, so the production connection files stay as they are.
'use strict';
const dns = require('node:dns');
const Module = require('node:module');

const { SNOWFLAKE_HOST: host, SNOWFLAKE_PORT: port, SNOWFLAKE_PROTOCOL: protocol } = process.env;

if (host) {
	const accessUrl = `${protocol || 'https'}://${host}${port ? `:${port}` : ''}`;
	const load = Module._load;
	Module._load = function loadPointingAtEmulator(request, ...rest) {
		const loaded = load.call(this, request, ...rest);
		if (request === 'snowflake-sdk' && !loaded.createConnection.emulatorAccessUrl) {
			const createConnection = loaded.createConnection;
			loaded.createConnection = (options) => createConnection({ ...options, accessUrl });
			loaded.createConnection.emulatorAccessUrl = accessUrl;
		}
		return loaded;
	};

	// A connection this missed would go to <account>.snowflakecomputing.com: fail it here instead.
	const lookup = dns.lookup;
	dns.lookup = function lookupOnlyTheEmulator(hostname, ...rest) {
		if (/\.snowflakecomputing\.com$/i.test(hostname)) {
			const missed = `${hostname}: a Snowflake connection missed the emulator at ${accessUrl}`;
			console.error(missed); // the driver reports any failure to connect as a network error
			throw new Error(missed);
		}
		return lookup.call(this, hostname, ...rest);
	};
}
