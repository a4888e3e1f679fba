"""Django admin of officines, administrators and pharmacist access."""

from django.contrib import admin

from officines.models import Officine, PharmacistAccess, TechnicalAdministrator


@admin.register(Officine)
class OfficineAdmin(admin.ModelAdmin):
    list_display = [
        "finess",
        "raison_sociale",
        "city",
        "department",
        "editor",
        "environment",
        "delegation_mode",
        "technical_administrator",
        "is_active",
    ]
    list_filter = ["environment", "delegation_mode", "is_active", "editor"]
    search_fields = ["finess", "finess_juridique", "raison_sociale", "city"]
    list_select_related = ["editor", "technical_administrator"]
    raw_id_fields = ["technical_administrator"]


@admin.register(TechnicalAdministrator)
class TechnicalAdministratorAdmin(admin.ModelAdmin):
    list_display = ["full_name", "card_type", "card_number", "email", "editor"]
    list_filter = ["card_type", "editor"]
    search_fields = ["full_name", "card_number", "email"]
    list_select_related = ["editor"]


@admin.register(PharmacistAccess)
class PharmacistAccessAdmin(admin.ModelAdmin):
    list_display = ["user", "officine", "created_at"]
    search_fields = ["user__email", "officine__finess", "officine__raison_sociale"]
    list_select_related = ["user", "officine"]
    raw_id_fields = ["user", "officine"]
