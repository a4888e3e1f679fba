"""allauth's MFA login stage, skipped after a Pro Santé Connect login (a CPS card or e-CPS is
strong authentication already)."""

from allauth.mfa.stages import AuthenticateStage as MfaAuthenticateStage


class AuthenticateStage(MfaAuthenticateStage):
    def _should_handle(self, request) -> bool:
        if getattr(request, "psc_login", False):
            return False
        return super()._should_handle(request)
