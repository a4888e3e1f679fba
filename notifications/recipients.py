"""Who hears about an officine's certificates: contacts, mailboxes, pharmacists, subscribers.

Used by the daily scan (notifications/scan.py) and by the revocation notices
(notifications/revocations.py), so both tell the same people.

Who they are (documented for the README): the notification e-mail of the officine's alert
contact (`officines.selectors.alert_contacts`: its main technical administrator unless
revoked for that officine; the old one while a form 503 is pending), the officine's
notification e-mail (its own mailbox: the pharmacy needs to know its service will stop),
the person to inform (CC), the pharmacists with portal access to that officine, and the
editor's users who opted in (`AlertSubscription`). When nobody is left, the editor's admins
(`EditorAdmins`). Addresses are compared lower-cased; bare addresses get French, portal
users their `language`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from notifications.models import AlertSubscription
from officines.models import PharmacistAccess
from officines.selectors import AlertContact
from portal.models import User


@dataclass(frozen=True)
class Recipient:
    """An address to tell, lower-cased, with its portal user when it has one."""

    email: str
    user_id: int | None = None


def officine_recipients(
    officine, pharmacists: Iterable[Recipient], contact: AlertContact | None = None
) -> list[Recipient]:
    """Who hears about an officine's certificates (besides the editor's subscribers).

    The alert contact's notification e-mail (`alert_contacts`), the officine's notification
    e-mail (the pharmacy's own mailbox), the person to inform (CC), and the pharmacists with
    portal access to this officine.
    """
    found: dict[str, int | None] = {}

    def add(email: str, user_id: int | None = None) -> None:
        email = (email or "").strip().lower()
        if email and found.get(email) is None:
            found[email] = user_id

    if contact is not None:
        add(contact.email)
    add(officine.notification_email)
    add(officine.cc_email)
    for pharmacist in pharmacists:
        add(pharmacist.email, pharmacist.user_id)
    return [Recipient(email, user_id) for email, user_id in found.items()]


class EditorAdmins:
    """The editor's active admins, who receive the alerts nobody else would; read once, and
    only when such an alert is due (no query for an editor whose officines all have one)."""

    def __init__(self, editor_id: int) -> None:
        self.editor_id = editor_id
        self._found: list[Recipient] | None = None

    def __iter__(self):
        if self._found is None:
            rows = (
                User.objects.filter(
                    is_active=True, membership__editor_id=self.editor_id, membership__role="admin"
                )
                .order_by("pk")
                .values_list("pk", "email")
            )
            self._found = [Recipient(email.lower(), pk) for pk, email in rows if email]
        return iter(self._found)


def editor_subscribers(editor_id: int) -> list[Recipient]:
    """The editor's active users who opted in to the alerts (`AlertSubscription`)."""
    rows = (
        AlertSubscription.objects.of_editor(editor_id)
        .filter(user__is_active=True, user__membership__editor_id=editor_id)
        .values_list("user_id", "user__email")
    )
    return [Recipient(email.lower(), user_id) for user_id, email in rows]


def officine_pharmacists(officine_ids: set[int]) -> dict[int, list[Recipient]]:
    """Active pharmacists with portal access, per officine (one query)."""
    found: dict[int, list[Recipient]] = defaultdict(list)
    rows = PharmacistAccess.objects.filter(
        officine_id__in=officine_ids, user__is_active=True
    ).values_list("officine_id", "user_id", "user__email")
    for officine_id, user_id, email in rows:
        found[officine_id].append(Recipient(email.lower(), user_id))
    return found
