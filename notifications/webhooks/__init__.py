"""Webhooks for the LGO: endpoints, signed deliveries, retries with backoff, auto-disable.

One job per module:

* `secrets`: seal, read and re-wrap the endpoints' signing secrets;
* `targets`: which target URLs are allowed (scheme, credentials, private addresses, DNS);
* `endpoints`: register, change, enable/disable and delete endpoints (audited);
* `delivery`: build payloads, sign, send, retry with backoff, auto-disable.

Signature (documented for receivers in notifications/WEBHOOKS.md):

    signed = f"{X-Portal-Timestamp}.{raw request body}"   (UTF-8 bytes)
    X-Portal-Signature: v1=<hex HMAC-SHA256(endpoint secret, signed)>

The timestamp is Unix seconds at the moment of *this* attempt, so a receiver can refuse
replays older than a few minutes; `X-Portal-Delivery` (a UUID) is the same on every
attempt of one delivery, so a receiver can de-duplicate: delivery is at-least-once.

Retries: a failed attempt (network error, timeout, non-2xx, redirect) is retried after
2**n minutes (n = attempts made: 2, 4, 8 ... minutes), up to WEBHOOK_MAX_ATTEMPTS. When the
last attempt of a delivery fails and the endpoint has failed WEBHOOK_DISABLE_AFTER_FAILURES
times in a row (across deliveries, a success resets the count), the endpoint is disabled
and the editor's administrators are told by e-mail. A large burst during a short outage
therefore does not disable an endpoint: only a delivery that exhausted its retries can.

Secrets at rest: the signing secret is stored only as an AES-256-GCM envelope under
KEY_ENCRYPTION_KEYS (portal/sealing.py), bound to its row by the associated data
b"webhook-secret:<endpoint id>": an envelope copied to another endpoint does not open, and a
delivery whose secret does not open fails closed (nothing is sent, the attempt is a failure).
`secrets.webhook_secret()` is the one reader; `manage.py rotate_key_encryption` re-wraps
envelopes.

SSRF: URLs must be https (http only for localhost when DEBUG or WEBHOOK_ALLOW_HTTP_LOCALHOST);
at delivery time the host must not resolve to a private, loopback, link-local or reserved
address unless WEBHOOK_ALLOW_PRIVATE_NETWORKS (loopback also with the localhost flag).
"""
