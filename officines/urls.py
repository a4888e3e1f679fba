"""URLs of the officine pages that read only officines (namespace `officines`)."""

from django.urls import path

from officines import access_views, habilitation_views, views

app_name = "officines"

# The list (with coverage), its CSV export and the officine page read certificates and
# alerts too: console/urls.py adds them to this namespace.

urlpatterns = [
    path("new/", views.OfficineCreate.as_view(), name="create"),
    path("habilitations/", habilitation_views.HabilitationBulk.as_view(), name="habilitations"),
    path("administrator-changes/", habilitation_views.ChangeList.as_view(), name="change_list"),
    path(
        "administrator-changes/<int:pk>/",
        habilitation_views.ChangeDetail.as_view(),
        name="change_detail",
    ),
    path(
        "administrator-changes/<int:pk>/formulaire-503.csv",
        habilitation_views.ChangeWorksheet.as_view(),
        name="change_worksheet",
    ),
    path(
        "administrator-changes/<int:pk>/process/",
        habilitation_views.ChangeProcess.as_view(),
        name="change_process",
    ),
    path(
        "administrator-changes/<int:pk>/cancel/",
        habilitation_views.ChangeCancel.as_view(),
        name="change_cancel",
    ),
    path("import/", views.ImportUpload.as_view(), name="import"),
    path("import/template.csv", views.ImportTemplate.as_view(), name="import_template"),
    path("import/<int:pk>/", views.ImportDetail.as_view(), name="import_detail"),
    path("import/<int:pk>/progress/", views.ImportProgress.as_view(), name="import_progress"),
    path("import/<int:pk>/confirm/", views.ImportConfirm.as_view(), name="import_confirm"),
    path("<int:pk>/edit/", views.OfficineUpdate.as_view(), name="update"),
    path("<int:pk>/deactivate/", views.OfficineDeactivate.as_view(), name="deactivate"),
    path(
        "<int:pk>/habilitations/",
        habilitation_views.OfficineHabilitationSet.as_view(),
        name="officine_habilitation",
    ),
    path(
        "<int:pk>/main-contact/",
        habilitation_views.OfficineMainContact.as_view(),
        name="main_contact",
    ),
    path(
        "pharmacists/import/",
        access_views.PharmacistImport.as_view(),
        name="pharmacist_import",
    ),
    path(
        "pharmacist-accesses/<int:pk>/rpps/", access_views.AccessRpps.as_view(), name="access_rpps"
    ),
    path(
        "pharmacist-accesses/<int:pk>/remove/",
        access_views.AccessRemove.as_view(),
        name="access_remove",
    ),
    path("administrators/", views.AdministratorList.as_view(), name="administrator_list"),
    path("administrators/new/", views.AdministratorCreate.as_view(), name="administrator_create"),
    path(
        "administrators/<int:pk>/", views.AdministratorDetail.as_view(), name="administrator_detail"
    ),
    path(
        "administrators/<int:pk>/edit/",
        views.AdministratorUpdate.as_view(),
        name="administrator_update",
    ),
]
