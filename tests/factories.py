"""factory_boy factories shared by the whole suite."""

from datetime import date

import factory
from allauth.mfa.totp.internal.auth import TOTP

from officines import identifiers
from officines.models import (
    Officine,
    OfficineHabilitation,
    PharmacistAccess,
    TechnicalAdministrator,
)
from portal.models import Editor, Membership, Role, User

PASSWORD = "correct-horse-battery-staple"
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


class EditorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Editor

    name = factory.Sequence(lambda n: f"Éditeur {n}")
    siren = "552100554"
    contact_email = factory.Sequence(lambda n: f"contact{n}@editeur.example")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.fr")
    full_name = factory.Faker("name", locale="fr_FR")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def totp(self, create, extracted, **kwargs):
        self.save()
        if extracted:
            TOTP.activate(self, TOTP_SECRET)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    editor = factory.SubFactory(EditorFactory)
    role = Role.OPERATOR


class TechnicalAdministratorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TechnicalAdministrator

    editor = factory.SubFactory(EditorFactory)
    full_name = factory.Faker("name", locale="fr_FR")
    email = factory.Sequence(lambda n: f"admin-tech{n}@lgo.example")
    card_type = "CPA"
    card_number = factory.Sequence(lambda n: f"80{n:08d}")


class OfficineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Officine
        skip_postgeneration_save = True

    editor = factory.SubFactory(EditorFactory)
    finess = factory.Sequence(lambda n: identifiers.generate_finess("69", 1000 + n))
    raison_sociale = factory.Sequence(lambda n: f"PHARMACIE DU RHÔNE {n}")
    address = "1 place Bellecour"
    postal_code = "69002"
    city = "Lyon"
    department = "69"
    notification_email = factory.Sequence(lambda n: f"officine{n}@example.fr")

    @factory.post_generation
    def habilitation(self, create, extracted, **kwargs):
        """The main administrator is habilitated for the officine unless told otherwise
        (`habilitation="requested"`, or `habilitation=False` for no row)."""
        if not create or self.technical_administrator_id is None or extracted is False:
            return
        state = extracted or "habilitated"
        OfficineHabilitation.objects.get_or_create(
            officine=self,
            administrator_id=self.technical_administrator_id,
            defaults={
                "editor_id": self.editor_id,
                "state": state,
                "habilitated_on": date(2024, 2, 1) if state == "habilitated" else None,
            },
        )


class PharmacistAccessFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PharmacistAccess

    user = factory.SubFactory(UserFactory)
    officine = factory.SubFactory(OfficineFactory)
