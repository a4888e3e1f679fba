"""Texts seen on a first run: request steps in order, service names said once, plural forms,
recovery-code links apart."""

from django.urls import reverse

from tests.ui.certificate_support import server_request


def test_request_steps_stay_in_order_after_submission(
    tenant_a, client_for, django_capture_on_commit_callbacks
):
    request = server_request(
        tenant_a.officine,
        tenant_a.operator,
        django_capture_on_commit_callbacks,
        services=("ROC",),
        common_name="LGO ROC",
    )
    client = client_for(tenant_a.operator)
    client.post(reverse("certificates:request_submit", args=[request.pk]))
    body = client.get(request.get_absolute_url()).content.decode()
    first, second, third = (body.find(f"{n}. ") for n in (1, 2, 3))
    assert -1 < first < second < third, "steps 1, 2 and 3 in order"
    assert 'id="submitted-step"' in body and "Transmise à l'ANS le" in body

    listing = client.get(reverse("certificates:request_list")).content.decode()
    assert "LGO ROC" in listing and "LGO ROC</a> <span" not in listing  # ROC not said twice


def test_reassignment_message_uses_plural_forms():
    from django.utils import translation
    from django.utils.translation import ngettext

    # A change of administrator is a pending form 503 (issue 14 §3): the message says so.
    message = (
        "Change of technical administrator recorded for %(count)d officine: send the "
        "form 503 to ANS with its worksheet, then mark it processed."
    )
    plural = (
        "Change of technical administrator recorded for %(count)d officines: send the "
        "form 503 to ANS with its worksheet, then mark it processed."
    )
    with translation.override("fr"):
        one = ngettext(message, plural, 1) % {"count": 1}
        many = ngettext(message, plural, 3) % {"count": 3}
    assert one.startswith("Changement d'administrateur technique enregistré pour 1 officine :")
    assert many.startswith("Changement d'administrateur technique enregistré pour 3 officines :")


def test_recovery_code_links_stand_apart(tenant_a):
    """The recovery-code page's links (download, generate) are the portal's buttons, not two
    links run together."""
    from django.test import Client

    from portal.management.commands.demo_totp import current_code
    from tests.factories import PASSWORD, MembershipFactory

    admin = MembershipFactory(editor=tenant_a.editor, role="admin").user
    client = Client()
    client.post(reverse("account_login"), {"login": admin.email, "password": PASSWORD})
    secret = client.get(reverse("mfa_activate_totp")).context["form"].secret
    activated = client.post(reverse("mfa_activate_totp"), {"code": current_code(secret)})
    page = client.get(activated.url)
    assert page.status_code == 200
    body = page.content.decode()
    for name in ("mfa_download_recovery_codes", "mfa_generate_recovery_codes"):
        assert f'<a class="button secondary" href="{reverse(name)}"' in body
