"""PSC's login and callback routes (allauth mounts them under /accounts/)."""

from django.urls import path

from psc import views

urlpatterns = [
    path("psc/login/", views.login, name="psc_login"),
    path("psc/login/callback/", views.callback, name="psc_callback"),
]
