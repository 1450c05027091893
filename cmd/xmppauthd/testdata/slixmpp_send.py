"""Log in to xmppauthd with slixmpp and send one chat message.

usage: slixmpp_send.py JID PASSWORD HOST:PORT TO BODY [--tls12]

Prints "bound <full JID>" and "sent" on success (exit 0), "auth failed" on
each SASL failure (exit 1 if it never logged in). Certificate verification
is off: the server's certificate is self-signed. --tls12 caps TLS at 1.2.
"""

import logging
import ssl
import sys

import slixmpp

jid, password, addr, to, body = sys.argv[1:6]
tls12 = "--tls12" in sys.argv[6:]
host, port = addr.rsplit(":", 1)
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)


class Sender(slixmpp.ClientXMPP):
    def __init__(self):
        super().__init__(jid, password)
        # slixmpp 1.8 builds its context in XMLStream.__init__; verification
        # is switched off on it (the demo's certificate is self-signed).
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        if tls12:
            self.ssl_context.maximum_version = ssl.TLSVersion.TLSv1_2
        self.sent = False
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("failed_auth", self.failed)
        self.add_event_handler("no_auth", self.give_up)

    async def start(self, event):
        print("bound", self.boundjid.full, flush=True)
        self.send_message(mto=to, mbody=body, mtype="chat")
        self.sent = True
        print("sent", flush=True)
        self.disconnect()

    def failed(self, event):
        print("auth failed", flush=True)

    def give_up(self, event):
        print("no mechanism left", flush=True)
        self.disconnect()


x = Sender()
# A watchdog, in case the server neither answers nor closes.
x.loop.call_later(30, x.disconnect)
x.connect((host, int(port)))
x.loop.run_until_complete(x.disconnected)
sys.exit(0 if x.sent else 1)
