"""HTML pages for officines and technical administrators."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django.views.generic import CreateView, DetailView, UpdateView, View
from django_filters.views import FilterView

from officines.filters import OfficineFilter
from officines.forms import OfficineForm, TechnicalAdministratorForm
from officines.models import Officine, TechnicalAdministrator
from officines.services import administrator_save, officine_deactivate, officine_save
from portal.permissions import WRITE_ROLES, ScopedViewMixin, can_act_on_officine


class OfficineList(ScopedViewMixin, FilterView):
    model = Officine
    filterset_class = OfficineFilter
    paginate_by = 50
    template_name = "officines/officine_list.html"
    allow_pharmacists = True

    def get_queryset(self):
        return super().get_queryset().select_related("technical_administrator")


class OfficineDetail(ScopedViewMixin, DetailView):
    model = Officine
    template_name = "officines/officine_detail.html"
    allow_pharmacists = True

    def get_queryset(self):
        return super().get_queryset().select_related("technical_administrator", "editor")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["can_act"] = can_act_on_officine(self.request.user, self.object)
        return context


class OfficineFormMixin(ScopedViewMixin):
    model = Officine
    form_class = OfficineForm
    roles = WRITE_ROLES
    template_name = "officines/officine_form.html"

    def form_valid(self, form):
        officine_save(officine=form.instance, actor=self.request.user, request=self.request)
        messages.success(self.request, _("Officine saved."))
        return HttpResponseRedirect(form.instance.get_absolute_url())


class OfficineCreate(OfficineFormMixin, CreateView):
    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["instance"] = Officine(editor_id=self.scope.editor_id)
        return kwargs


class OfficineUpdate(OfficineFormMixin, UpdateView):
    pass


class OfficineDeactivate(ScopedViewMixin, View):
    model = Officine
    roles = WRITE_ROLES

    def post(self, request, pk: int):
        officine = get_object_or_404(self.get_queryset(), pk=pk)
        officine_deactivate(officine=officine, actor=request.user, request=request)
        messages.success(request, _("Officine deactivated."))
        return HttpResponseRedirect(officine.get_absolute_url())


class AdministratorList(ScopedViewMixin, FilterView):
    model = TechnicalAdministrator
    filterset_fields = ["card_type", "habilitation"]
    paginate_by = 50
    template_name = "officines/administrator_list.html"


class AdministratorDetail(ScopedViewMixin, DetailView):
    model = TechnicalAdministrator
    template_name = "officines/administrator_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["officines"] = Officine.objects.visible_to(self.request.user).filter(
            technical_administrator=self.object
        )[:500]
        return context


class AdministratorFormMixin(ScopedViewMixin):
    model = TechnicalAdministrator
    form_class = TechnicalAdministratorForm
    roles = WRITE_ROLES
    template_name = "officines/administrator_form.html"

    def form_valid(self, form):
        administrator_save(
            administrator=form.instance, actor=self.request.user, request=self.request
        )
        messages.success(self.request, _("Technical administrator saved."))
        return HttpResponseRedirect(form.instance.get_absolute_url())


class AdministratorCreate(AdministratorFormMixin, CreateView):
    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        if self.scope.editor_id is None:
            raise PermissionDenied
        kwargs["instance"] = TechnicalAdministrator(editor_id=self.scope.editor_id)
        return kwargs


class AdministratorUpdate(AdministratorFormMixin, UpdateView):
    pass
