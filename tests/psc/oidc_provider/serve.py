"""Start the test provider: `python -m tests.psc.oidc_provider.serve PORT CLIENT_ID SECRET
REDIRECT_URI POST_LOGOUT_URI` with OP_DATA_DIR and OP_PEOPLE set. Migrates its own SQLite
database, registers the portal's client, then serves until killed."""

import os
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):  # the test reads the portal's logs, not these
        pass


def main() -> None:
    port, client_id, secret, redirect_uri, post_logout = sys.argv[1:6]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.psc.oidc_provider.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application
    from oauth2_provider.models import Application

    call_command("migrate", verbosity=0)
    Application.objects.update_or_create(
        client_id=client_id,
        defaults={
            "name": "Portail certificats (test)",
            "client_secret": secret,
            "client_type": Application.CLIENT_CONFIDENTIAL,
            "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
            "redirect_uris": redirect_uri,
            "post_logout_redirect_uris": post_logout,
            "algorithm": Application.RS256_ALGORITHM,
            "skip_authorization": True,
        },
    )
    server = make_server(
        "127.0.0.1", int(port), get_wsgi_application(), server_class=_Server, handler_class=_Quiet
    )
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
