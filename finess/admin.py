"""Django admin of the FINESS referential."""

from django.contrib import admin

from finess.models import Etablissement, Refresh


@admin.register(Etablissement)
class EtablissementAdmin(admin.ModelAdmin):
    list_display = ("finess", "raison_sociale", "city", "category", "is_open")
    list_filter = ("is_open", "category")
    search_fields = ("finess", "finess_juridique", "raison_sociale")


@admin.register(Refresh)
class RefreshAdmin(admin.ModelAdmin):
    list_display = ("started_at", "kind", "status", "data_date", "loaded", "total", "to_verify")
    list_filter = ("status", "kind")
    readonly_fields = [f.name for f in Refresh._meta.fields]
