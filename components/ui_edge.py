"""The UI's front door: a CloudFront distribution (https, nothing cached, security headers) and, for a narrow
uiAllowedCidr, a WAF web ACL that admits only that range.

CloudFront reaches the host over HTTP on its public DNS name, adding a secret header that the
host's reverse proxy checks; the host's security group admits CloudFront's origin-facing servers
only. The viewer side is https with CloudFront's own certificate (`*.cloudfront.net`), or with
uiCertificateArn for uiDomainName.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

ORIGIN_ID = "openwebui-host"
ORIGIN_HEADER = "X-Origin-Verify"  # the host's nginx.conf reads it as $http_x_origin_verify
# AWS-managed policies (CloudFront developer guide, "managed cache/origin request policies").
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
# Every viewer header, cookie and query string (WebSocket handshakes included), Host excepted: the
# origin is addressed by its own name.
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
# Managed-SecurityHeadersPolicy: HSTS (max-age one year), X-Content-Type-Options nosniff, X-Frame-Options
# SAMEORIGIN, Referrer-Policy strict-origin-when-cross-origin, X-XSS-Protection; no Content-Security-Policy,
# and an origin's own header wins (nosniff excepted). ID from "Use managed response headers policies":
# https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-response-headers-policies.html
SECURITY_HEADERS = "67f7725c-6f97-4210-82d7-5512b31e9d03"
ALL_METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
ORIGIN_READ_TIMEOUT = 60  # seconds; CloudFront's most without a quota increase
WAF_REGION = "us-east-1"  # a CLOUDFRONT-scoped web ACL lives in us-east-1
OPEN_TO_ALL = "0.0.0.0/0"


@dataclass(frozen=True)
class UiEdge:
    """The distribution in front of the UI host."""

    url: pulumi.Output[str]
    """https://<uiDomainName or the distribution's name>: where people open the UI."""
    distribution_domain_name: pulumi.Output[str]
    """<id>.cloudfront.net: what a uiDomainName's DNS record (CNAME or alias) points to."""
    web_acl_arn: pulumi.Output[str] | None
    """The WAF web ACL applying uiAllowedCidr; None when the UI is open to all."""


def ui_url(domain_name: str, distribution_domain_name: pulumi.Input[str]) -> pulumi.Output[str]:
    """The UI's https URL: the custom name when configured, else the distribution's own."""
    if domain_name:
        return pulumi.Output.from_input(f"https://{domain_name}")
    return pulumi.Output.concat("https://", distribution_domain_name)


def ui_edge(
    name: str,
    *,
    label: str,
    origin_domain_name: pulumi.Input[str],
    origin_port: int,
    origin_secret: pulumi.Input[str],
    allowed_cidr: str,
    domain_name: str,
    certificate_arn: str,
    parent: pulumi.Resource,
) -> UiEdge:
    """The distribution (and WAF when `allowed_cidr` is narrower than the internet) in front of the host;
    `domain_name` and its ACM `certificate_arn` name it, when given."""
    opts = pulumi.ResourceOptions(parent=parent)
    web_acl = allowed_cidr_web_acl(name, label, allowed_cidr, opts)
    distribution = aws.cloudfront.Distribution(
        f"{name}-cdn",
        enabled=True,
        comment=f"{label}: OpenWebUI",
        # The WAF's range is IPv4 (uiAllowedCidr): without AAAA records a dual-stack browser in it comes over IPv4.
        is_ipv6_enabled=web_acl is None,
        http_version="http2",
        price_class="PriceClass_100",  # North America and Europe edges: the cheapest class
        aliases=[domain_name] if domain_name else None,
        origins=[
            {
                "origin_id": ORIGIN_ID,
                "domain_name": origin_domain_name,
                "custom_origin_config": {
                    "origin_protocol_policy": "http-only",
                    "http_port": origin_port,
                    "https_port": 443,
                    "origin_ssl_protocols": ["TLSv1.2"],
                    "origin_read_timeout": ORIGIN_READ_TIMEOUT,
                },
                "custom_headers": [{"name": ORIGIN_HEADER, "value": pulumi.Output.secret(origin_secret)}],
            }
        ],
        default_cache_behavior={
            "target_origin_id": ORIGIN_ID,
            "viewer_protocol_policy": "redirect-to-https",
            "allowed_methods": ALL_METHODS,
            "cached_methods": ["GET", "HEAD"],
            "cache_policy_id": CACHING_DISABLED,
            "origin_request_policy_id": ALL_VIEWER_EXCEPT_HOST_HEADER,
            "response_headers_policy_id": SECURITY_HEADERS,
            "compress": False,  # only cached responses are compressed, and nothing is cached
        },
        restrictions={"geo_restriction": {"restriction_type": "none"}},
        viewer_certificate=viewer_certificate(certificate_arn),
        web_acl_id=web_acl.arn if web_acl else None,
        tags={"Name": label},
        opts=opts,
    )
    return UiEdge(
        url=ui_url(domain_name, distribution.domain_name),
        distribution_domain_name=distribution.domain_name,
        web_acl_arn=web_acl.arn if web_acl else None,
    )


def viewer_certificate(certificate_arn: str) -> dict[str, object]:
    """CloudFront's own certificate, or the configured ACM one (SNI, TLS 1.2 and up) for uiDomainName."""
    if not certificate_arn:
        return {"cloudfront_default_certificate": True}
    return {
        "acm_certificate_arn": certificate_arn,
        "ssl_support_method": "sni-only",
        "minimum_protocol_version": "TLSv1.2_2021",
    }


def allowed_cidr_web_acl(
    name: str, label: str, allowed_cidr: str, opts: pulumi.ResourceOptions
) -> aws.wafv2.WebAcl | None:
    """A web ACL that blocks every address outside allowed_cidr; None when that is the whole internet."""
    if allowed_cidr == OPEN_TO_ALL:
        return None
    metric = label.replace(".", "-")
    # `region` on the resource (pulumi-aws v7) rather than a second provider: it keeps the stack's
    # credentials and profile, which an explicit provider would not inherit.
    allowed = aws.wafv2.IpSet(
        f"{name}-allowed",
        scope="CLOUDFRONT",
        ip_address_version="IPV4",
        addresses=[allowed_cidr],
        description="uiAllowedCidr: who may reach OpenWebUI",
        region=WAF_REGION,
        opts=opts,
    )
    return aws.wafv2.WebAcl(
        f"{name}-waf",
        scope="CLOUDFRONT",
        description="OpenWebUI: uiAllowedCidr only",
        default_action={"block": {}},
        rules=[
            {
                "name": "allow-ui-allowed-cidr",
                "priority": 0,
                "action": {"allow": {}},
                "statement": {"ip_set_reference_statement": {"arn": allowed.arn}},
                "visibility_config": {
                    "cloudwatch_metrics_enabled": True,
                    "metric_name": f"{metric}-allowed",
                    "sampled_requests_enabled": True,
                },
            }
        ],
        visibility_config={
            "cloudwatch_metrics_enabled": True,
            "metric_name": f"{metric}-waf",
            "sampled_requests_enabled": True,
        },
        tags={"Name": label},
        region=WAF_REGION,
        opts=opts,
    )
