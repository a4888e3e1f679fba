"""PSC's login, callback, re-authentication and link routes (allauth mounts them under /accounts/)."""

from django.urls import path

from psc import views

urlpatterns = [
    path("psc/login/", views.login, name="psc_login"),
    path("psc/login/callback/", views.callback, name="psc_callback"),
    path("psc/reauthenticate/", views.Reauthenticate.as_view(), name="psc_reauthenticate"),
    path("psc/link/", views.Link.as_view(), name="psc_link"),
]
