"""The officines app's models, one module per subject; imported here so Django finds them.

Lowest first: `administrators`, `officine`, `habilitation`, `access`, `recipients`,
`administrator_changes`, `imports`, `finess_check`. (The stored coverage of each officine is
certificate knowledge: `certificates.coverage_store.OfficineCoverage`.)
"""

from officines.models.access import PharmacistAccess
from officines.models.administrator_changes import (
    AdministratorChange,
    AdministratorChangeItem,
    ChangeStatus,
)
from officines.models.administrators import (
    KIND_CARD_MISMATCH,
    AdministratorKind,
    CardType,
    TechnicalAdministrator,
)
from officines.models.finess_check import FinessCheckStatus, OfficineFinessCheck
from officines.models.habilitation import Habilitation, OfficineHabilitation
from officines.models.imports import ImportMode, ImportStatus, OfficineImport
from officines.models.officine import (
    GEO_EQUALS_JURIDIQUE,
    GEO_IS_ANOTHER_JURIDIQUE,
    JURIDIQUE_IS_ANOTHER_GEO,
    MODE_EDITEUR_NEEDS_CPA,
    MODE_PHARMACIEN_NEEDS_CPS,
    DelegationMode,
    Environment,
    Officine,
    OfficineQuerySet,
)
from officines.models.recipients import without_alert_recipient_condition

__all__ = [
    "GEO_EQUALS_JURIDIQUE",
    "GEO_IS_ANOTHER_JURIDIQUE",
    "JURIDIQUE_IS_ANOTHER_GEO",
    "KIND_CARD_MISMATCH",
    "MODE_EDITEUR_NEEDS_CPA",
    "MODE_PHARMACIEN_NEEDS_CPS",
    "AdministratorChange",
    "AdministratorChangeItem",
    "AdministratorKind",
    "CardType",
    "ChangeStatus",
    "DelegationMode",
    "Environment",
    "FinessCheckStatus",
    "Habilitation",
    "ImportMode",
    "ImportStatus",
    "Officine",
    "OfficineFinessCheck",
    "OfficineHabilitation",
    "OfficineImport",
    "OfficineQuerySet",
    "PharmacistAccess",
    "TechnicalAdministrator",
    "without_alert_recipient_condition",
]
