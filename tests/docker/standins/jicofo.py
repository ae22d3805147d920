"""TEST-ONLY STAND-IN for Jicofo (/usr/share/jicofo/jicofo.sh): not Jitsi's Jicofo.

Reads the HOCON file named by -Dconfig.file in JAVA_SYS_PROPS (pyhocon) at the keys Jicofo
reads (../../../../shared/reference/jicofo-common-reference.conf, jicofo-reference.conf), and
with those values:
  - logs in as jicofo.xmpp.client.username @ domain (resource: `resource`, default the
    username) with `password` at hostname:port, STARTTLS required when use-tls (default
    true), the certificate checked unless disable-certificate-verification;
  - asks xmpp-domain (default: domain) for disco#info, where Jicofo discovers components;
  - joins jicofo.bridge.brewery-jid and, when set, jicofo.jigasi.brewery-jid and
    jicofo.jibri.brewery-jid, with its resource as nickname, as Jicofo's breweries do;
  - serves on jicofo.rest host:port (default 0.0.0.0:8888; the rendered jicofo.conf says
    127.0.0.1, or 0.0.0.0 with JICOFO_ENABLE_REST) /about/health (200 while connected),
    /metrics (gauges jitsi_jicofo_stand_in_up and jitsi_jicofo_stand_in_brewery_occupants,
    in Prometheus's text format) and, for the tests only, /standin/breweries: the occupants
    it sees in each brewery, {"bridge": {"room": JID, "occupants": [{"nick", "jid"}]},
    "jigasi": ...}.
"""

import os
import sys

from pyhocon import ConfigFactory

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import standin_common as common  # noqa: E402


def load():
    props = common.java_sys_props(os.environ.get("JAVA_SYS_PROPS", ""))
    path = props.get("config.file")
    if not path:
        raise common.Fatal("JAVA_SYS_PROPS has no -Dconfig.file")
    try:
        return ConfigFactory.parse_file(path).get_config("jicofo")
    except Exception as e:  # pyhocon raises several unrelated types
        raise common.Fatal(f"{path}: {e}") from e


async def run():
    conf = load()
    client = conf.get_config("xmpp.client")
    if not client.get_bool("enabled", True):
        raise common.Fatal("jicofo.xmpp.client.enabled is false: nothing to connect")
    username = client.get_string("username", "focus")
    domain = client.get_string("domain")
    resource = client.get_string("resource", username)
    account = common.Account(
        jid=f"{username}@{domain}/{resource}",
        password=client.get_string("password", ""),
        host=client.get_string("hostname", "localhost"),
        port=client.get_int("port", 5222),
        verify_certificate=not client.get_bool("disable-certificate-verification", False),
        require_tls=client.get_bool("use-tls", True),
    )
    breweries = {}
    for kind in ("bridge", "jigasi", "jibri"):
        jid = conf.get_string(f"{kind}.brewery-jid", None)
        if jid:
            breweries[kind] = jid

    connection = common.Connection(account)
    await connection.login()
    await connection.discover(client.get_string("xmpp-domain", domain))
    for jid in breweries.values():
        await connection.join(jid, resource)

    def breweries_seen():
        return 200, {kind: {"room": jid, "occupants": connection.occupants(jid)}
                     for kind, jid in breweries.items()}

    def metrics():
        return 200, common.metrics_text(
            [("jitsi_jicofo_stand_in_up", "1 while the stand-in focus is logged in.", {}, 1)]
            + [("jitsi_jicofo_stand_in_brewery_occupants", "Others in each brewery room the stand-in focus is in.",
                {"brewery": kind}, len(connection.occupants(jid))) for kind, jid in breweries.items()])

    rest = conf.get_config("rest", None)
    host = rest.get_string("host", "0.0.0.0") if rest else "0.0.0.0"
    port = rest.get_int("port", 8888) if rest else 8888
    await common.serve_http(host, port, {
        "/about/health": lambda: (200, {"standin": "jicofo"}),
        "/standin/breweries": breweries_seen,
        "/metrics": metrics,
    })
    return await common.run_until_stopped([connection])


if __name__ == "__main__":
    common.main("jicofo", run)
