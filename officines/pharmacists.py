"""What the kernel asks of officines about pharmacists: who is one, and access on invitation.

Both are registered from `OfficinesConfig.ready()`: the kernel (`portal`) never imports this
app.
"""

from __future__ import annotations

from typing import Any

from officines.models import PharmacistAccess


def is_pharmacist(user_id: int) -> bool:
    """Whether the user is the pharmacist of an officine of an active editor (`Scope`)."""
    return PharmacistAccess.objects.filter(
        user_id=user_id, officine__editor__is_active=True
    ).exists()


def grant_invited_pharmacist(sender: Any, *, invitation: Any, user: Any, **kwargs: Any) -> None:
    """A pharmacist invitation was accepted: the user gets each officine it names."""
    for officine in invitation.officines.all():
        PharmacistAccess.objects.get_or_create(
            user=user, officine=officine, defaults={"rpps": invitation.rpps}
        )
