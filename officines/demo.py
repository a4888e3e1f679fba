"""Demo officines and technical administrators for `make run` (deterministic)."""

from __future__ import annotations

from datetime import date

from officines import identifiers
from officines.models import (
    CardType,
    DelegationMode,
    Habilitation,
    Officine,
    OfficineHabilitation,
    TechnicalAdministrator,
)

# The demo tenant's name: `seed_demo` creates it, the restore drill and the docs use it.
DEMO_EDITOR = "Pharmalogic Démo"

CITIES = [
    ("69", "Lyon", "69003"),
    ("75", "Paris", "75011"),
    ("13", "Marseille", "13006"),
    ("33", "Bordeaux", "33000"),
    ("31", "Toulouse", "31000"),
    ("44", "Nantes", "44000"),
    ("59", "Lille", "59000"),
    ("67", "Strasbourg", "67000"),
    ("35", "Rennes", "35000"),
    ("2A", "Ajaccio", "20000"),
    ("2B", "Bastia", "20200"),
    ("974", "Saint-Denis", "97400"),
    ("971", "Pointe-à-Pitre", "97110"),
    ("06", "Nice", "06000"),
    ("34", "Montpellier", "34000"),
    ("76", "Rouen", "76000"),
    ("63", "Clermont-Ferrand", "63000"),
    ("21", "Dijon", "21000"),
    ("29", "Brest", "29200"),
    ("57", "Metz", "57000"),
    ("87", "Limoges", "87000"),
    ("25", "Besançon", "25000"),
    ("38", "Grenoble", "38000"),
    ("45", "Orléans", "45000"),
    ("972", "Fort-de-France", "97200"),
]
NAMES = [
    "Pharmacie du Centre",
    "Pharmacie de la Gare",
    "Pharmacie des Halles",
    "Pharmacie du Marché",
    "Pharmacie de l'Église",
    "Grande Pharmacie",
    "Pharmacie du Port",
    "Pharmacie des Écoles",
    "Pharmacie de la Mairie",
    "Pharmacie Saint-Jean",
]
ADMINISTRATORS = [
    (
        "Claire Martin",
        "certificats@demo-lgo.fr",
        CardType.CPA,
        "8001234567",
        Habilitation.HABILITATED,
    ),
    (
        "Julien Bernard",
        "certificats@demo-lgo.fr",
        CardType.CPA,
        "8001234568",
        Habilitation.HABILITATED,
    ),
    (
        "Sophie Durand",
        "support-pki@demo-lgo.fr",
        CardType.CPA,
        "8001234569",
        Habilitation.REQUESTED,
    ),
    (
        "Dr Hélène Petit",
        "pharmacie.petit@example.fr",
        CardType.CPS,
        "8101234567",
        Habilitation.HABILITATED,
    ),
]


DOCS_OFFICINE = {
    "finess": "690001003",
    "raison_sociale": "PHARMACIE DE LA PLACE",
    "address": "1 place Bellecour",
    "postal_code": "69002",
}


def seed_officines(editor, *, count: int = 50) -> list[Officine]:
    administrators = [
        TechnicalAdministrator.objects.create(
            editor=editor, full_name=name, email=email, card_type=card_type, card_number=number
        )
        for name, email, card_type, number, _status in ADMINISTRATORS
    ]
    # A newcomer whose CPA card is still on order (form 301): recorded, not habilitable yet.
    TechnicalAdministrator.objects.create(
        editor=editor,
        full_name="Lucas Moreau",
        email="certificats@demo-lgo.fr",
        card_type=CardType.CPA,
        card_number="",
    )
    states = {
        admin.pk: status
        for admin, (*_rest, status) in zip(administrators, ADMINISTRATORS, strict=True)
    }
    officines = []
    for i in range(count):
        department, city, postal_code = CITIES[i % len(CITIES)]
        pharmacist_mode = i % 10 == 9
        officines.append(
            Officine(
                editor=editor,
                finess=identifiers.generate_finess(department, 2100 + i),
                finess_juridique=identifiers.generate_finess(department, 5100 + i),
                raison_sociale=f"{NAMES[i % len(NAMES)]} {city}".upper(),
                address=f"{i + 1} rue de la République",
                postal_code=postal_code,
                city=city,
                department=department,
                delegation_mode=DelegationMode.PHARMACIEN
                if pharmacist_mode
                else DelegationMode.EDITEUR,
                technical_administrator=administrators[3]
                if pharmacist_mode
                else administrators[i % 3],
                notification_email=f"officine{i + 1:02d}@example.fr",
                cc_email="titulaire@example.fr" if i % 4 == 0 else "",
            )
        )
    # The officine README.md and docs/API.md use in their examples (the LGO round trip).
    officines[0].finess = DOCS_OFFICINE["finess"]
    officines[0].raison_sociale = DOCS_OFFICINE["raison_sociale"]
    officines[0].address = DOCS_OFFICINE["address"]
    officines[0].postal_code = DOCS_OFFICINE["postal_code"]
    for officine in officines:
        officine.full_clean()
    created = Officine.objects.bulk_create(officines)
    OfficineHabilitation.objects.bulk_create(
        OfficineHabilitation(
            editor=editor,
            officine=officine,
            administrator_id=officine.technical_administrator_id,
            state=states[officine.technical_administrator_id],
            requested_on=date(2024, 1, 15),
            habilitated_on=date(2024, 2, 1)
            if states[officine.technical_administrator_id] == Habilitation.HABILITATED
            else None,
        )
        for officine in created
    )
    return created
