from django.urls import path

from officines import views

app_name = "officines"

urlpatterns = [
    path("", views.OfficineList.as_view(), name="list"),
    path("export/", views.OfficineExport.as_view(), name="export"),
    path("new/", views.OfficineCreate.as_view(), name="create"),
    path("administrator-change/", views.OfficineReassign.as_view(), name="reassign"),
    path("import/", views.ImportUpload.as_view(), name="import"),
    path("import/template.csv", views.ImportTemplate.as_view(), name="import_template"),
    path("import/<int:pk>/", views.ImportDetail.as_view(), name="import_detail"),
    path("import/<int:pk>/progress/", views.ImportProgress.as_view(), name="import_progress"),
    path("import/<int:pk>/confirm/", views.ImportConfirm.as_view(), name="import_confirm"),
    path("<int:pk>/", views.OfficineDetail.as_view(), name="detail"),
    path("<int:pk>/edit/", views.OfficineUpdate.as_view(), name="update"),
    path("<int:pk>/deactivate/", views.OfficineDeactivate.as_view(), name="deactivate"),
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
