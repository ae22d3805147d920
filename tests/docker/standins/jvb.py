"""TEST-ONLY STAND-IN for Jitsi Videobridge (/usr/share/jitsi-videobridge/jvb.sh): not the bridge.

Reads the HOCON file named by -Dconfig.file in JAVA_SYS_PROPS (pyhocon; ${HOSTNAME} and other
substitutions resolved from the environment, as the bridge's Typesafe Config does) and, for
every entry of videobridge.apis.xmpp-client.configs (jicoco's MucClientConfiguration names:
HOSTNAME, PORT, DOMAIN, USERNAME, PASSWORD, MUC_JIDS, MUC_NICKNAME,
DISABLE_CERTIFICATE_VERIFICATION):
  - logs in as USERNAME@DOMAIN with PASSWORD at HOSTNAME:PORT (default 5222), STARTTLS
    required (Smack's default), the certificate checked unless
    DISABLE_CERTIFICATE_VERIFICATION;
  - joins every room of MUC_JIDS (comma-separated) as MUC_NICKNAME: the brewery where Jicofo
    finds the bridge.
Then serves /about/health and /metrics (gauges jitsi_jvb_stand_in_up and
jitsi_jvb_stand_in_breweries, in Prometheus's text format) on videobridge.http-servers.private
host:port (defaults of the reference: 127.0.0.1, jicoco's 8080; JVB_ENABLE_REST makes the host
0.0.0.0), with jitsi_jvb_local_endpoints (the bridge's own name: the participants on it,
$STANDIN_JVB_ENDPOINTS, default 0; like the bridge's, /metrics fails with HTTP 500 without an
Accept header). With videobridge.rest.shutdown.enabled, POST
/colibri/shutdown starts a graceful shutdown like the bridge's: the participants leave
$STANDIN_JVB_DRAIN_SECONDS (default 2) later; the stand-in then waits for SIGTERM (the real
bridge would exit by itself after its shutting-down delay).
"""

import os
import sys
import time

from pyhocon import ConfigFactory

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import standin_common as common  # noqa: E402

REQUIRED = ("HOSTNAME", "DOMAIN", "USERNAME", "PASSWORD", "MUC_JIDS", "MUC_NICKNAME")


def load():
    props = common.java_sys_props(os.environ.get("JAVA_SYS_PROPS", ""))
    path = props.get("config.file")
    if not path:
        raise common.Fatal("JAVA_SYS_PROPS has no -Dconfig.file")
    try:
        return ConfigFactory.parse_file(path).get_config("videobridge")
    except Exception as e:  # pyhocon raises several unrelated types
        raise common.Fatal(f"{path}: {e}") from e


def accounts(conf):
    """(name, Account, rooms, nickname) of every configured connection."""
    configs = conf.get_config("apis.xmpp-client.configs", None)
    if not configs:
        raise common.Fatal("videobridge.apis.xmpp-client.configs is empty: no brewery to join")
    out = []
    for name in configs:
        c = configs.get_config(name)
        missing = [k for k in REQUIRED if c.get(k, None) in (None, "")]
        if missing:
            raise common.Fatal(f"videobridge.apis.xmpp-client.configs.{name}: "
                               f"missing {', '.join(missing)}")
        account = common.Account(
            jid=f"{c.get_string('USERNAME')}@{c.get_string('DOMAIN')}",
            password=c.get_string("PASSWORD"),
            host=c.get_string("HOSTNAME"),
            port=int(c.get("PORT", 5222)),
            verify_certificate=not c.get_bool("DISABLE_CERTIFICATE_VERIFICATION", False),
            require_tls=True,
        )
        rooms = [r.strip() for r in c.get_string("MUC_JIDS").split(",") if r.strip()]
        out.append((name, account, rooms, c.get_string("MUC_NICKNAME")))
    return out


async def run():
    conf = load()
    connections = []
    for _name, account, rooms, nickname in accounts(conf):
        connection = common.Connection(account)
        connections.append(connection)
        await connection.login()
        for room in rooms:
            await connection.join(room, nickname)
    private = conf.get_config("http-servers.private", None)
    host = private.get_string("host", "127.0.0.1") if private else "127.0.0.1"
    port = private.get_int("port", 8080) if private else 8080

    endpoints = int(os.environ.get("STANDIN_JVB_ENDPOINTS", "0"))
    drain_seconds = float(os.environ.get("STANDIN_JVB_DRAIN_SECONDS", "2"))
    shutdown_enabled = conf.get_bool("rest.shutdown.enabled", False)
    graceful_since = []

    def local_endpoints():
        if graceful_since and time.monotonic() - graceful_since[0] >= drain_seconds:
            return 0
        return endpoints

    def metrics():
        rooms = sum(len(c.rooms) for c in connections)
        return 200, common.metrics_text([
            ("jitsi_jvb_stand_in_up", "1 while the stand-in bridge is logged in.", {}, 1),
            ("jitsi_jvb_stand_in_breweries", "Brewery rooms the stand-in bridge is in.", {}, rooms),
            ("jitsi_jvb_local_endpoints", "Participants on the stand-in bridge.", {}, local_endpoints()),
        ])

    def shutdown():
        if not shutdown_enabled:
            return 404, {"error": "the shutdown API is disabled"}
        if not graceful_since:
            graceful_since.append(time.monotonic())
            common.log.info("graceful shutdown requested (%d participants leave in %gs)",
                            endpoints, drain_seconds)
        return 200, {}

    await common.serve_http(host, port, {"/about/health": lambda: (200, {"standin": "jvb"}),
                                         "/metrics": metrics,
                                         "POST /colibri/shutdown": shutdown},
                            needs_accept=("/metrics",))
    return await common.run_until_stopped(connections)


if __name__ == "__main__":
    common.main("jvb", run)
