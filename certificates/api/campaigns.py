"""API of renewal campaigns: list, follow, start one, download its ZIP."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from django.utils.translation import gettext_lazy as _
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.reverse import reverse

from certificates.api import schema
from certificates.api.transport import FileNegotiation, ZipRenderer
from certificates.campaigns import campaign_create, campaign_export, campaign_zip_filename
from certificates.models import CampaignStatus, RenewalCampaign
from certificates.serializers import CampaignCreateSerializer, CampaignSerializer
from portal.api.problems import ProblemException
from portal.api.views import ApiViewMixin


@schema.CAMPAIGNS
class CampaignViewSet(
    ApiViewMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = CampaignSerializer
    queryset = RenewalCampaign.objects.none()
    lookup_value_converter = "int"
    # Campaigns span the editor's officines: not for keys limited to one officine.
    officine_limited_forbidden = ("create",)
    resource = "campaigns"

    def get_queryset(self):
        return self.scoped(RenewalCampaign.objects.all()).order_by("id")

    @schema.CAMPAIGN_CREATE
    def create(self, request):
        serializer = CampaignCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        campaign = campaign_create(
            editor=self.editor(),
            actor=self.actor,
            name=data["name"],
            requester_email=data["requester_email"],
            contact_email=data.get("contact_email", ""),
            certificate_ids=data.get("certificate_ids"),
            within_days=data.get("within_days"),
            key_mode=data.get("key_mode") or "",
            http_request=self.http_request,
        )
        body = CampaignSerializer(campaign, context=self.get_serializer_context()).data
        location = reverse("api:campaign-detail", args=[campaign.pk], request=request)
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": location})

    @schema.CAMPAIGN_ZIP
    @action(
        detail=True,
        methods=["get"],
        renderer_classes=[ZipRenderer],
        content_negotiation_class=FileNegotiation,
    )
    def zip(self, request, pk=None):
        campaign = self.get_object()
        if campaign.status != CampaignStatus.DONE:
            raise ProblemException(
                _("The campaign is not finished yet: follow its progress, then download."),
                status_code=409,
                slug="conflict",
            )
        chunks = campaign_export(
            campaign=campaign, actor=self.actor, http_request=self.http_request
        )
        response = StreamingHttpResponse(chunks, content_type="application/zip")
        response["Content-Disposition"] = (
            f'attachment; filename="{campaign_zip_filename(campaign)}"'
        )
        response["Cache-Control"] = "no-store"
        return response
