{#-
  Jitsi's virtual hosts and components; included at the end of prosody.cfg.lua.
  Module names refer to Prosody's own modules and to Jitsi's prosody plugins
  (/usr/share/jitsi-meet/prosody-plugins).
-#}
{%- import "prosody/macros.jinja" as lists -%}
{%- set focus_jid = JICOFO_AUTH_USER ~ "@" ~ XMPP_AUTH_DOMAIN -%}
{%- set jvb_jid = JVB_AUTH_USER ~ "@" ~ XMPP_AUTH_DOMAIN -%}
{%- set jwt = ENABLE_AUTH and AUTH_TYPE == "jwt" -%}
{%- set ldap = ENABLE_AUTH and AUTH_TYPE == "ldap" -%}
{%- set turn = TURN_HOST or TURNS_HOST -%}
{#- Jitsi's anonymous provider (session resumption); Prosody's own where the plugins are absent. -#}
{%- set anonymous = "jitsi-anonymous" if file_exists("/usr/share/jitsi-meet/prosody-plugins/mod_auth_jitsi-anonymous.lua") else "anonymous" -%}
{%- set lobby_host = "lobby." ~ XMPP_DOMAIN -%}
{%- set breakout_host = "breakout." ~ XMPP_DOMAIN -%}
{%- set host_modules = ["bosh"]
    + (["websocket"] if ENABLE_XMPP_WEBSOCKET else [])
    + ["smacks", "ping", "features_identity"]
    + (["external_services"] if turn else [])
    + (["muc_lobby_rooms"] if ENABLE_LOBBY else [])
    + (["muc_breakout_rooms"] if ENABLE_BREAKOUT_ROOMS else [])
    + (["presence_identity"] if jwt else []) -%}
{%- set muc_modules = ["muc_hide_all", "muc_meeting_id", "muc_domain_mapper", "muc_rate_limit", "muc_password_whitelist"]
    + (["muc_max_occupants"] if MAX_PARTICIPANTS else [])
    + ([JWT_TOKEN_AUTH_MODULE] if jwt else []) -%}
---------- Virtual hosts ----------

-- Browsers: anonymous, unless ENABLE_AUTH.
VirtualHost {{ XMPP_DOMAIN|lua }}
{%- if not ENABLE_AUTH %}
    authentication = {{ anonymous|lua }}
{%- elif AUTH_TYPE == "internal" %}
    -- Accounts are created with prosodyctl (see the README).
    authentication = "internal_hashed"
{%- elif jwt %}
    authentication = {{ JWT_AUTH_TYPE|lua }}
    app_id = {{ JWT_APP_ID|lua }}
{%- if JWT_APP_SECRET %}
    app_secret = {{ JWT_APP_SECRET|lua }}
{%- endif %}
{%- if JWT_ASAP_KEYSERVER %}
    asap_key_server = {{ JWT_ASAP_KEYSERVER|lua }}
{%- endif %}
{%- if JWT_ACCEPTED_ISSUERS|select|list %}
    asap_accepted_issuers = {{ JWT_ACCEPTED_ISSUERS|map("trim")|select|list|lua }}
{%- endif %}
{%- if JWT_ACCEPTED_AUDIENCES|select|list %}
    asap_accepted_audiences = {{ JWT_ACCEPTED_AUDIENCES|map("trim")|select|list|lua }}
{%- endif %}
    allow_empty_token = {{ JWT_ALLOW_EMPTY|lua }}
    enable_domain_verification = {{ JWT_ENABLE_DOMAIN_VERIFICATION|lua }}
{%- elif ldap %}
    -- Prosody's mod_auth_ldap (lualdap). TLS options come from the rendered ldap.conf
    -- (LDAPCONF=/run/prosody/config/ldap.conf in the prosody service's environment).
    authentication = "ldap"
    ldap_server = {{ LDAP_URL|lua }}
    ldap_rootdn = {{ (LDAP_BINDDN or "")|lua }}
    ldap_password = {{ (LDAP_BINDPW or "")|lua }}
    ldap_tls = {{ LDAP_START_TLS|lua }}
    ldap_base = {{ LDAP_BASE|lua }}
    ldap_scope = "subtree"
    ldap_filter = {{ LDAP_FILTER|replace("%u", "$user")|replace("%U", "$user")|replace("%d", "$host")|replace("%r", "$host")|lua }}
    ldap_mode = {{ ("getpasswd" if LDAP_AUTH_METHOD == "custom" else "bind")|lua }}
{%- endif %}
    -- BOSH and WebSocket arrive through nginx over HTTPS.
    c2s_require_encryption = false
    modules_enabled = {{ lists.modules(host_modules, XMPP_MODULES, 8) }}
    main_muc = {{ XMPP_MUC_DOMAIN|lua }}
{%- if ENABLE_LOBBY %}
    lobby_muc = {{ lobby_host|lua }}
    -- Recorders and transcribers skip the lobby.
    muc_lobby_whitelist = { {{ XMPP_HIDDEN_DOMAIN|lua }} }
{%- endif %}
{%- if ENABLE_BREAKOUT_ROOMS %}
    breakout_rooms_muc = {{ breakout_host|lua }}
{%- endif %}
{%- if ENABLE_AUTH and ENABLE_GUESTS %}

-- Guests: anonymous users who may join a conference an authenticated user has started.
VirtualHost {{ XMPP_GUEST_DOMAIN|lua }}
    authentication = {{ anonymous|lua }}
    c2s_require_encryption = false
    modules_enabled = {{ lists.modules(["smacks", "ping"] + (["external_services"] if turn else []), [], 8) }}
{%- endif %}

-- Service accounts: Jicofo, Jitsi Videobridge, Jigasi (created by the register-* oneshots).
VirtualHost {{ XMPP_AUTH_DOMAIN|lua }}
    authentication = "internal_hashed"
    modules_enabled = {{ lists.modules(["limits_exception", "smacks", "ping"], [], 8) }}
    -- Jicofo and the bridges exchange stanzas larger than Prosody's 256 KiB limit (conference
    -- state of big rooms): limits_exception lifts it for these accounts only.
    unlimited_jids = { {{ focus_jid|lua }}, {{ jvb_jid|lua }} }
    smacks_hibernation_time = 15

-- Hidden participants (recorders, transcribers): JIBRI_RECORDER_USER is created by the
-- register-recorder oneshot with ENABLE_RECORDING; others with prosodyctl.
VirtualHost {{ XMPP_HIDDEN_DOMAIN|lua }}
    authentication = "internal_hashed"
    modules_enabled = {{ lists.modules(["smacks", "ping"], [], 8) }}

---------- Components ----------

-- Conference rooms.
Component {{ XMPP_MUC_DOMAIN|lua }} "muc"
    storage = "memory"
    restrict_room_creation = true
    modules_enabled = {{ lists.modules(muc_modules, XMPP_MUC_MODULES, 8) }}
    admins = { {{ focus_jid|lua }} }
    muc_password_whitelist = { {{ focus_jid|lua }} }
{%- if MAX_PARTICIPANTS %}
    muc_max_occupants = {{ MAX_PARTICIPANTS }}
    muc_access_whitelist = { {{ focus_jid|lua }} }
{%- endif %}
    muc_room_locking = false
    muc_room_default_public_jids = true
    muc_room_allow_persistent = false
    muc_tombstones = false
    muc_room_cache_size = 1000

-- Brewery rooms where bridges and gateways announce themselves to Jicofo.
Component {{ XMPP_INTERNAL_MUC_DOMAIN|lua }} "muc"
    storage = "memory"
    modules_enabled = {{ lists.modules(["muc_hide_all", "ping"], XMPP_INTERNAL_MUC_MODULES, 8) }}
    admins = { {{ focus_jid|lua }}, {{ jvb_jid|lua }} }
    muc_room_locking = false
    muc_room_default_public_jids = true
    muc_tombstones = false

-- Jicofo is an ordinary client (focus@auth); clients address it as focus.<domain>. The proxy
-- learns which Jicofo sessions are online from their presence, which Prosody sends it because
-- Jicofo's roster has it as a subscriber: the subscribe-focus oneshot writes that roster entry
-- before Prosody starts (the proxy's own request at load is lost when this component loads
-- before XMPP_AUTH_DOMAIN, and then every request gets service-unavailable).
Component {{ ("focus." ~ XMPP_DOMAIN)|lua }} "client_proxy"
    target_address = {{ focus_jid|lua }}

-- The feature components below announce themselves on XMPP_DOMAIN (features_identity), where
-- the web client discovers them.
Component {{ ("speakerstats." ~ XMPP_DOMAIN)|lua }} "speakerstats_component"
    muc_component = {{ XMPP_MUC_DOMAIN|lua }}

Component {{ ("metadata." ~ XMPP_DOMAIN)|lua }} "room_metadata_component"
    muc_component = {{ XMPP_MUC_DOMAIN|lua }}
{%- if ENABLE_BREAKOUT_ROOMS %}
    breakout_rooms_component = {{ breakout_host|lua }}
{%- endif %}
{%- if ENABLE_END_CONFERENCE %}

Component {{ ("endconference." ~ XMPP_DOMAIN)|lua }} "end_conference"
    muc_component = {{ XMPP_MUC_DOMAIN|lua }}
{%- endif %}
{%- if ENABLE_AV_MODERATION %}

Component {{ ("avmoderation." ~ XMPP_DOMAIN)|lua }} "av_moderation_component"
    muc_component = {{ XMPP_MUC_DOMAIN|lua }}
{%- endif %}
{%- if not DISABLE_POLLS %}

-- Polls of the conference and breakout rooms (it finds those MUCs from muc_mapper_domain_*).
Component {{ ("polls." ~ XMPP_DOMAIN)|lua }} "polls_component"
{%- endif %}
{%- if ENABLE_LOBBY %}

Component {{ lobby_host|lua }} "muc"
    storage = "memory"
    restrict_room_creation = true
    modules_enabled = {{ lists.modules(["muc_hide_all", "muc_rate_limit"], [], 8) }}
    muc_room_locking = false
    muc_room_default_public_jids = true
    muc_room_allow_persistent = false
    muc_tombstones = false
    muc_room_cache_size = 10000
{%- endif %}
{%- if ENABLE_BREAKOUT_ROOMS %}

Component {{ breakout_host|lua }} "muc"
    storage = "memory"
    restrict_room_creation = true
    modules_enabled = {{ lists.modules(["muc_hide_all", "muc_meeting_id", "muc_domain_mapper", "muc_rate_limit"], [], 8) }}
    admins = { {{ focus_jid|lua }} }
    muc_room_locking = false
    muc_room_default_public_jids = true
    muc_room_allow_persistent = false
    muc_tombstones = false
    muc_room_cache_size = 1000
{%- endif %}
