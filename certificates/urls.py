"""URLs of the certificate pages that read only certificates (namespace `certificates`)."""

from django.urls import path

from certificates import ans_action_views
from certificates.revocation import views as revocation_views
from certificates.views import campaigns, requests, wizard
from certificates.views import certificates as certificate_views

app_name = "certificates"

# The pages that show alerts too (a certificate, an officine's certificates, a
# pharmacist's officines) are added to this namespace by console/urls.py.

urlpatterns = [
    path("", certificate_views.CertificateList.as_view(), name="list"),
    path("import/", certificate_views.CertificateImport.as_view(), name="import"),
    path("ans-actions/", ans_action_views.AnsActionList.as_view(), name="ans_actions"),
    path(
        "ans-actions/worksheet.csv",
        ans_action_views.AnsActionWorksheet.as_view(),
        name="ans_actions_worksheet",
    ),
    path("<int:pk>/download/", certificate_views.CertificateDownload.as_view(), name="download"),
    path("<int:pk>/pkcs12/", certificate_views.CertificatePkcs12.as_view(), name="export_pkcs12"),
    path("<int:pk>/renew/", certificate_views.CertificateRenew.as_view(), name="renew"),
    path("<int:pk>/revoke/", certificate_views.CertificateRevoke.as_view(), name="revoke"),
    path(
        "<int:pk>/revocation-check/",
        revocation_views.CertificateRevocationCheck.as_view(),
        name="revocation_check",
    ),
    # Requests and the request wizard
    path("requests/", requests.RequestList.as_view(), name="request_list"),
    path("requests/new/", wizard.RequestWizard.as_view(), name="request_create"),
    path("requests/new/officines/", wizard.WizardOfficines.as_view(), name="wizard_officines"),
    path("requests/new/check-cn/", wizard.WizardCheckCommonName.as_view(), name="wizard_check_cn"),
    path("requests/<int:pk>/", requests.RequestDetail.as_view(), name="request_detail"),
    path(
        "requests/<int:pk>/progress/", requests.RequestProgress.as_view(), name="request_progress"
    ),
    path("requests/<int:pk>/csr/", requests.RequestCsrDownload.as_view(), name="request_csr"),
    path("requests/<int:pk>/submitted/", requests.RequestSubmit.as_view(), name="request_submit"),
    path("requests/<int:pk>/cancel/", requests.RequestCancel.as_view(), name="request_cancel"),
    path(
        "requests/<int:pk>/upload-csr/",
        requests.RequestUploadCsr.as_view(),
        name="request_upload_csr",
    ),
    path(
        "requests/<int:pk>/upload-certificate/",
        requests.RequestUploadCertificate.as_view(),
        name="request_upload_certificate",
    ),
    # Renewal campaigns
    path("campaigns/", campaigns.CampaignList.as_view(), name="campaign_list"),
    path("campaigns/new/", campaigns.CampaignCreate.as_view(), name="campaign_create"),
    path("campaigns/<int:pk>/", campaigns.CampaignDetail.as_view(), name="campaign_detail"),
    path(
        "campaigns/<int:pk>/progress/",
        campaigns.CampaignProgress.as_view(),
        name="campaign_progress",
    ),
    path("campaigns/<int:pk>/zip/", campaigns.CampaignZip.as_view(), name="campaign_zip"),
    path(
        "campaigns/<int:pk>/worksheet/",
        campaigns.CampaignWorksheet.as_view(),
        name="campaign_worksheet",
    ),
    path("campaigns/<int:pk>/resume/", campaigns.CampaignResume.as_view(), name="campaign_resume"),
]
