from django.urls import path

from certificates import ans_action_views, views
from certificates.revocation import views as revocation_views

app_name = "certificates"

# The pages that show alerts too (a certificate, an officine's certificates, a
# pharmacist's officines) are added to this namespace by console/urls.py.

urlpatterns = [
    path("", views.CertificateList.as_view(), name="list"),
    path("import/", views.CertificateImport.as_view(), name="import"),
    path("ans-actions/", ans_action_views.AnsActionList.as_view(), name="ans_actions"),
    path(
        "ans-actions/worksheet.csv",
        ans_action_views.AnsActionWorksheet.as_view(),
        name="ans_actions_worksheet",
    ),
    path("<int:pk>/download/", views.CertificateDownload.as_view(), name="download"),
    path("<int:pk>/pkcs12/", views.CertificatePkcs12.as_view(), name="export_pkcs12"),
    path("<int:pk>/renew/", views.CertificateRenew.as_view(), name="renew"),
    path("<int:pk>/revoke/", views.CertificateRevoke.as_view(), name="revoke"),
    path(
        "<int:pk>/revocation-check/",
        revocation_views.CertificateRevocationCheck.as_view(),
        name="revocation_check",
    ),
    # Requests and the request wizard
    path("requests/", views.RequestList.as_view(), name="request_list"),
    path("requests/new/", views.RequestWizard.as_view(), name="request_create"),
    path("requests/new/officines/", views.WizardOfficines.as_view(), name="wizard_officines"),
    path("requests/new/check-cn/", views.WizardCheckCommonName.as_view(), name="wizard_check_cn"),
    path("requests/<int:pk>/", views.RequestDetail.as_view(), name="request_detail"),
    path("requests/<int:pk>/progress/", views.RequestProgress.as_view(), name="request_progress"),
    path("requests/<int:pk>/csr/", views.RequestCsrDownload.as_view(), name="request_csr"),
    path("requests/<int:pk>/submitted/", views.RequestSubmit.as_view(), name="request_submit"),
    path("requests/<int:pk>/cancel/", views.RequestCancel.as_view(), name="request_cancel"),
    path(
        "requests/<int:pk>/upload-csr/", views.RequestUploadCsr.as_view(), name="request_upload_csr"
    ),
    path(
        "requests/<int:pk>/upload-certificate/",
        views.RequestUploadCertificate.as_view(),
        name="request_upload_certificate",
    ),
    # Renewal campaigns
    path("campaigns/", views.CampaignList.as_view(), name="campaign_list"),
    path("campaigns/new/", views.CampaignCreate.as_view(), name="campaign_create"),
    path("campaigns/<int:pk>/", views.CampaignDetail.as_view(), name="campaign_detail"),
    path(
        "campaigns/<int:pk>/progress/", views.CampaignProgress.as_view(), name="campaign_progress"
    ),
    path("campaigns/<int:pk>/zip/", views.CampaignZip.as_view(), name="campaign_zip"),
    path(
        "campaigns/<int:pk>/worksheet/",
        views.CampaignWorksheet.as_view(),
        name="campaign_worksheet",
    ),
    path("campaigns/<int:pk>/resume/", views.CampaignResume.as_view(), name="campaign_resume"),
]
