from django.urls import path

from officines import views

app_name = "officines"

urlpatterns = [
    path("", views.OfficineList.as_view(), name="list"),
    path("new/", views.OfficineCreate.as_view(), name="create"),
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
