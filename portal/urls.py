from django.contrib import admin
from django.urls import include, path

from portal import views

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation_accept"),
    path("team/", views.Team.as_view(), name="team"),
    path("team/members/<int:pk>/role/", views.MembershipRole.as_view(), name="membership_role"),
    path(
        "team/members/<int:pk>/remove/", views.MembershipRemove.as_view(), name="membership_remove"
    ),
    path(
        "team/invitations/<int:pk>/revoke/",
        views.InvitationRevoke.as_view(),
        name="invitation_revoke",
    ),
    path("officines/", include("officines.urls")),
    path("certificates/", include("certificates.urls")),
    path("admin/", admin.site.urls),
]
