"""TEST-ONLY STAND-IN for Jigasi (/usr/share/jigasi/jigasi.sh): not Jitsi's SIP gateway.

Reads sip-communicator.properties from the directory Jigasi uses: --configdir/--configdirname
on the command line (jigasi.sh passes them to Jigasi's Main), else
net.java.sip.communicator.SC_HOME_DIR_LOCATION/_NAME from JAVA_SYS_PROPS. The file is parsed
as Java properties (javaproperties). For every enabled XMPP account
(net.java.sip.communicator.impl.protocol.jabber.<id>=<id>, IS_ACCOUNT_DISABLED not true):
  - logs in as USER_ID with PASSWORD (base64, as Jigasi stores it) at
    SERVER_ADDRESS:SERVER_PORT when IS_SERVER_OVERRIDDEN (else at the JID's domain), STARTTLS
    required unless ALLOW_NON_SECURE, the certificate checked unless
    net.java.sip.communicator.service.gui.ALWAYS_TRUST_MODE_ENABLED;
  - with org.jitsi.jigasi.BREWERY_ENABLED, joins the account's BREWERY room with the
    connection's resource as nickname (Jigasi's CallControlMucActivator does the same); the
    resource is RESOURCE (default "jitsi") plus a random suffix when AUTO_GENERATE_RESOURCE.
Then serves /about/health on port 8788 (jigasi.rest.port of Jigasi's reference.conf).
"""

import base64
import os
import secrets
import sys

import javaproperties

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import standin_common as common  # noqa: E402

JABBER = "net.java.sip.communicator.impl.protocol.jabber."
REST_PORT = 8788


def config_path(argv):
    props = common.java_sys_props(os.environ.get("JAVA_SYS_PROPS", ""))
    location = props.get("net.java.sip.communicator.SC_HOME_DIR_LOCATION")
    name = props.get("net.java.sip.communicator.SC_HOME_DIR_NAME")
    for arg in argv:
        if arg.startswith("--configdir="):
            location = arg.split("=", 1)[1]
        elif arg.startswith("--configdirname="):
            name = arg.split("=", 1)[1]
    if not location or not name:
        raise common.Fatal("no config directory: neither --configdir/--configdirname nor "
                           "SC_HOME_DIR_LOCATION/SC_HOME_DIR_NAME in JAVA_SYS_PROPS")
    return os.path.join(location, name, "sip-communicator.properties")


def truthy(value):
    return str(value).strip().lower() == "true"


def accounts(props):
    """(id, Account, brewery room or None, nickname) of every enabled XMPP account."""
    trust_all = truthy(props.get("net.java.sip.communicator.service.gui.ALWAYS_TRUST_MODE_ENABLED"))
    out = []
    for key, value in props.items():
        if not key.startswith(JABBER) or "." in key[len(JABBER):] or value != key[len(JABBER):]:
            continue
        acc = {k[len(key) + 1:]: v for k, v in props.items() if k.startswith(key + ".")}
        if truthy(acc.get("IS_ACCOUNT_DISABLED")):
            continue
        user = acc.get("USER_ID", "")
        if "@" not in user:
            raise common.Fatal(f"{key}.USER_ID is not a JID: {user!r}")
        try:
            password = base64.b64decode(acc.get("PASSWORD", ""), validate=True).decode()
        except ValueError as e:
            raise common.Fatal(f"{key}.PASSWORD is not base64: {e}") from e
        if truthy(acc.get("IS_SERVER_OVERRIDDEN")):
            host = acc.get("SERVER_ADDRESS", "")
            port = int(acc.get("SERVER_PORT", "5222"))
        else:
            host, port = user.split("@", 1)[1], 5222
        resource = acc.get("RESOURCE", "jitsi")
        if truthy(acc.get("AUTO_GENERATE_RESOURCE")):
            resource = f"{resource}-{secrets.token_hex(4)}"
        account = common.Account(
            jid=f"{user}/{resource}", password=password, host=host, port=port,
            verify_certificate=not trust_all,
            require_tls=not truthy(acc.get("ALLOW_NON_SECURE")),
        )
        out.append((value, account, acc.get("BREWERY") or None, resource))
    if not out:
        raise common.Fatal(f"no enabled XMPP account ({JABBER}<id>=<id>)")
    return out


async def run():
    path = config_path(sys.argv[1:])
    try:
        with open(path, encoding="utf-8") as f:
            props = javaproperties.load(f)
    except OSError as e:
        raise common.Fatal(f"{path}: {e}") from e
    brewery_enabled = truthy(props.get("org.jitsi.jigasi.BREWERY_ENABLED"))
    connections = []
    for _id, account, brewery, nickname in accounts(props):
        connection = common.Connection(account)
        connections.append(connection)
        await connection.login()
        if brewery_enabled and brewery:
            await connection.join(brewery, nickname)
    await common.serve_http("0.0.0.0", REST_PORT, {"/about/health": lambda: (200, {"standin": "jigasi"})})
    return await common.run_until_stopped(connections)


if __name__ == "__main__":
    common.main("jigasi", run)
