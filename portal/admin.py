"""Django admin of the kernel's models: users, editors, memberships, audit, outbox."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from portal.models import AuditEvent, Editor, Invitation, Membership, OutboxMessage, User


class MembershipInline(admin.StackedInline):
    model = Membership
    extra = 0


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "membership", "is_active", "is_staff", "last_login"]
    list_filter = ["is_active", "is_staff", "membership__role", "membership__editor"]
    search_fields = ["email", "full_name"]
    list_select_related = ["membership__editor"]
    inlines = [MembershipInline]
    fieldsets = [
        (None, {"fields": ["email", "password", "full_name", "language"]}),
        (_("Permissions"), {"fields": ["is_active", "is_staff", "is_superuser"]}),
        (_("Dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]


@admin.register(Editor)
class EditorAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "siren",
        "contact_email",
        "is_mssante_operator",
        "is_active",
        "created_at",
    ]
    list_filter = ["is_active", "is_mssante_operator"]
    search_fields = ["name", "siren", "contact_email"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "editor", "role", "created_at"]
    list_filter = ["role", "editor"]
    search_fields = ["user__email", "editor__name"]
    list_select_related = ["user", "editor"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "editor", "kind", "role", "created_at", "expires_at", "accepted_at"]
    list_filter = ["kind", "role", "editor"]
    search_fields = ["email"]
    readonly_fields = ["token_hash"]
    list_select_related = ["editor"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: audit events are never changed nor deleted."""

    list_display = [
        "created_at",
        "editor",
        "actor_label",
        "action",
        "target_label",
        "outcome",
        "ip_address",
    ]
    list_filter = ["outcome", "action", "editor"]
    search_fields = ["actor_label", "target_label", "action"]
    list_select_related = ["editor"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


admin.site.site_header = _("Certificate portal — staff")


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ["task", "created_at", "sent_at", "attempts", "last_error"]
    list_filter = ["task"]
    readonly_fields = ["task", "kwargs", "created_at", "sent_at", "attempts", "last_error"]
