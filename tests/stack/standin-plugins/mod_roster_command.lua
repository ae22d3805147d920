-- STAND-IN, for tests/stack only: not Jitsi's mod_roster_command, which CI does not have.
--
-- The prosody image's subscribe-focus oneshot runs
--   prosodyctl mod_roster_command subscribe SUBSCRIBER USER@HOST
-- This stand-in answers that one command the same way as far as the roster store goes:
-- USER's roster gets SUBSCRIBER with subscription "from" (SUBSCRIBER receives USER's
-- presence), written through Prosody's own rostermanager. Anything else fails loudly, so a
-- change of the oneshot's command shows up here.

if module.host ~= "*" then
	module:log("error", "stand-in mod_roster_command is a prosodyctl command, not a server module");
	return;
end

local jid = require "util.jid";
local rostermanager = require "core.rostermanager";
local storagemanager = require "core.storagemanager";
local usermanager = require "core.usermanager";

function module.command(arg)
	local command, subscriber, user_jid = arg[1], arg[2], arg[3];
	if command ~= "subscribe" or not subscriber or not user_jid then
		print("stand-in mod_roster_command: only `subscribe SUBSCRIBER USER@HOST` is implemented");
		return 1;
	end
	local username, host = jid.split(user_jid);
	local h = prosody.hosts[host];
	if not username or not h then
		print("stand-in mod_roster_command: " .. user_jid .. " is not an account of a configured host");
		return 1;
	end
	-- prosodyctl starts hosts with the null provider; the roster needs the real store.
	if h.users.name == "null" then
		storagemanager.initialize_host(host);
		usermanager.initialize_host(host);
	end
	-- Both are no-ops once the subscription exists (another boot): subscribing is idempotent.
	rostermanager.set_contact_pending_in(username, host, subscriber);
	rostermanager.subscribed(username, host, subscriber);
	local item = rostermanager.load_roster(username, host)[subscriber];
	if not (item and (item.subscription == "from" or item.subscription == "both")) then
		print("stand-in mod_roster_command: the roster of " .. user_jid .. " has no subscription from " .. subscriber);
		return 1;
	end
	return 0;
end
