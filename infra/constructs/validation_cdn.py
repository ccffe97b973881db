"""The validation CDN: CloudFront in front of the OCSP function and the CRL bucket.

Cache key = the path: an OCSP GET carries its request in the path and a CRL is named
by it, so nothing else may split (or poison) the cache. The origin's Cache-Control
decides how long an answer stays at the edge (min TTL 0, else CloudFront would cache
the no-store answers: tryLater, malformedRequest), capped by the responder's own cap,
so a revocation reaches clients behind the CDN within it. POST (RFC 6960 A.1) reaches
the origin always. Plain HTTP is allowed on purpose: OCSP and CRL fetching are HTTP by
design (RFC 5019, RFC 6960 appendix A, RFC 5280 4.2.1.13), TLS to them would be circular.
"""

from __future__ import annotations

from typing import Final

from aws_cdk import Duration, Stack
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as targets
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.config import DeployConfig
from infra.guardrails import acknowledge
from infra.naming import CDN_LOG_BUCKET, shared
from responders.web.clientip import ORIGIN_SECRET_HEADER
from responders.web.exchange import DEFAULT_CDN_MAX_AGE

# The function's cap on max-age (its CERTSIGHT_CDN_MAX_AGE) and the OCSP cache policy's
# max TTL: one number, so the CDN never keeps an answer longer than the origin allows.
CDN_MAX_AGE: Final = DEFAULT_CDN_MAX_AGE

LOG_PREFIX: Final = "cloudfront/validation/"
# CRL objects carry no Cache-Control (pki/store/objects.py), so the default TTL is
# what bounds how late a new CRL reaches clients through the CDN.
CRL_DEFAULT_TTL: Final = Duration.minutes(5)
CRL_MAX_TTL: Final = Duration.hours(1)


class ValidationCdn(Construct):
    """The distribution (``distribution``) and, with a zone, its DNS names."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeployConfig,
        function_url: lambda_.IFunctionUrl,
        origin_secret: str,
        crl_bucket: s3.IBucket,
        crl_prefix: str,
    ) -> None:
        """``origin_secret``: the header value CloudFront adds (a dynamic reference)."""
        super().__init__(scope, construct_id)
        env = config.env_name
        # Cache key = the path: an OCSP GET carries its request in the path, a CRL is
        # named by it; nothing else may split (or poison) the cache. min TTL 0, or
        # CloudFront would cache the no-store answers (tryLater, malformedRequest).
        # Compression off: DER is incompressible and OCSP clients do not expect
        # Content-Encoding on application/ocsp-response.
        ocsp_cache = cloudfront.CachePolicy(
            self,
            "OcspCache",
            cache_policy_name=f"certsight-{env}-validation-ocsp",
            comment="OCSP: the origin's Cache-Control decides, up to its own cap",
            min_ttl=Duration.seconds(0),
            # Without Cache-Control nothing is cached: the origin sends it on every
            # answer meant to be cached.
            default_ttl=Duration.seconds(0),
            # The origin's cap on max-age: a revocation reaches clients behind the CDN
            # within it (responders/web/exchange.py).
            max_ttl=Duration.seconds(CDN_MAX_AGE),
            header_behavior=cloudfront.CacheHeaderBehavior.none(),
            cookie_behavior=cloudfront.CacheCookieBehavior.none(),
            query_string_behavior=cloudfront.CacheQueryStringBehavior.none(),
            enable_accept_encoding_gzip=False,
            enable_accept_encoding_brotli=False,
        )
        crl_cache = cloudfront.CachePolicy(
            self,
            "CrlCache",
            cache_policy_name=f"certsight-{env}-validation-crl",
            comment="CRLs: Cache-Control if the object has one, else five minutes",
            min_ttl=Duration.seconds(0),
            default_ttl=CRL_DEFAULT_TTL,
            max_ttl=CRL_MAX_TTL,
            header_behavior=cloudfront.CacheHeaderBehavior.none(),
            cookie_behavior=cloudfront.CacheCookieBehavior.none(),
            query_string_behavior=cloudfront.CacheQueryStringBehavior.none(),
            enable_accept_encoding_gzip=False,
            enable_accept_encoding_brotli=False,
        )
        # The viewer's address for the access log (trusted only with the secret) and the
        # User-Agent it records; neither is in the cache key. No Host: a Function URL
        # answers only to its own.
        origin_request = cloudfront.OriginRequestPolicy(
            self,
            "OcspOriginRequest",
            origin_request_policy_name=f"certsight-{env}-validation-ocsp",
            comment="OCSP origin: the viewer's address and user agent for the access log",
            header_behavior=cloudfront.OriginRequestHeaderBehavior.allow_list(
                "CloudFront-Viewer-Address", "User-Agent"
            ),
            cookie_behavior=cloudfront.OriginRequestCookieBehavior.none(),
            query_string_behavior=cloudfront.OriginRequestQueryStringBehavior.none(),
        )
        function_origin = origins.FunctionUrlOrigin(
            function_url,
            custom_headers={_header_name(ORIGIN_SECRET_HEADER): origin_secret},
            # CloudFront serves a cached answer's stale-if-error only once the origin
            # has failed: with its defaults (3 attempts of 10 s to connect) a client
            # would wait 30 s first. Two attempts of 3 s find a dead origin in 6 s; the
            # read timeout stays above the function's own 20 s, after which it has
            # answered (tryLater at worst) or Lambda has returned its error.
            connection_attempts=2,
            connection_timeout=Duration.seconds(3),
            read_timeout=Duration.seconds(25),
        )
        log_bucket = s3.Bucket.from_bucket_attributes(
            self,
            "CdnLogBucket",
            bucket_name=ssm.StringParameter.value_for_string_parameter(
                self, shared(env, CDN_LOG_BUCKET)
            ),
            region=Stack.of(self).region,
        )
        certificate = None
        if config.cdn_certificate_arn is not None:
            certificate = acm.Certificate.from_certificate_arn(
                self, "CdnCertificate", config.cdn_certificate_arn
            )
        self.distribution = distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment=f"certsight {env} validation: OCSP and CRLs",
            default_behavior=cloudfront.BehaviorOptions(
                origin=function_origin,
                # OCSP POST (RFC 6960 A.1) needs the full set; the function answers 405
                # to the methods it does not serve.
                allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.ALLOW_ALL,
                cache_policy=ocsp_cache,
                origin_request_policy=origin_request,
                compress=False,
            ),
            additional_behaviors={
                f"/{crl_prefix}/*": cloudfront.BehaviorOptions(
                    origin=origins.S3BucketOrigin.with_origin_access_control(crl_bucket),
                    allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                    cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD,
                    viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.ALLOW_ALL,
                    cache_policy=crl_cache,
                    compress=False,
                )
            },
            enable_logging=True,
            log_bucket=log_bucket,
            log_file_prefix=LOG_PREFIX,
            log_includes_cookies=False,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            enable_ipv6=True,
            domain_names=[config.hostname("validation")] if certificate else None,
            certificate=certificate,
            minimum_protocol_version=(
                cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021 if certificate else None
            ),
        )
        acknowledge(
            distribution,
            "AwsSolutions-CFR1",
            "Relying parties validate certificates from anywhere the enterprise operates; "
            "a geo restriction would make revocation checks fail, and clients soft-fail open.",
        )
        acknowledge(
            distribution,
            "AwsSolutions-CFR2",
            "No WAF: OCSP and CRL must answer every relying party, unauthenticated and often "
            "without a user agent; a blocked check soft-fails open. The origin caps bodies, "
            "validates every request and has reserved concurrency; the edge caches GETs.",
        )
        if certificate is None:
            acknowledge(
                distribution,
                "AwsSolutions-CFR4",
                "Without a certificate for custom names the distribution uses CloudFront's "
                "default certificate, whose TLS policy cannot be chosen; OCSP and CRLs are "
                "fetched over plain HTTP by design, so nothing relies on that TLS.",
            )

        self._dns(config)

    def _dns(self, config: DeployConfig) -> None:
        """A and AAAA aliases of the host name, where the zone is ours to write."""
        if not (config.custom_names and config.hosted_zone_id):
            return
        zone = route53.HostedZone.from_hosted_zone_attributes(
            self, "Zone", hosted_zone_id=config.hosted_zone_id, zone_name=config.domain
        )
        target = route53.RecordTarget.from_alias(targets.CloudFrontTarget(self.distribution))
        hostname = config.hostname("validation")
        route53.ARecord(self, "AliasIpv4", zone=zone, record_name=hostname, target=target)
        route53.AaaaRecord(self, "AliasIpv6", zone=zone, record_name=hostname, target=target)


def _header_name(lower: str) -> str:
    """``x-certsight-origin-secret`` -> ``X-Certsight-Origin-Secret`` (headers are
    case-insensitive; the documented spelling reads better in the console)."""
    return "-".join(part.capitalize() for part in lower.split("-"))
