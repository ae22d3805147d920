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
Then serves /about/health on videobridge.http-servers.private host:port (defaults of the
reference: 127.0.0.1, jicoco's 8080).
"""

import os
import sys

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
    await common.serve_http(host, port, {"/about/health": lambda: (200, {"standin": "jvb"})})
    return await common.run_until_stopped(connections)


if __name__ == "__main__":
    common.main("jvb", run)
