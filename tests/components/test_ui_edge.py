"""The UI behind CloudFront, under Pulumi mocks: https for people, the host reachable through CloudFront only."""

from __future__ import annotations

import botocore.session
import pytest

from tests.components.test_chat_ui_host import deploy_host, ingress, user_data
from tests.pulumi_harness import ProgramRun

DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
IP_SET = "aws:wafv2/ipSet:IpSet"
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/1234abcd-12ab-34cd-56ef-1234567890ab"
CUSTOM_DOMAIN = {"uiDomainName": "chat.example.com", "uiCertificateArn": CERTIFICATE}


def distribution(run: ProgramRun) -> dict:
    return run.one(DISTRIBUTION).inputs


def test_ui_url_is_https_on_the_distribution_s_own_name(pulumi_mocks):
    run = deploy_host(pulumi_mocks)

    cloudfront_name = run.one(DISTRIBUTION).state["domainName"]
    assert cloudfront_name.endswith(".cloudfront.net")
    assert run.outputs["ui_url"] == f"https://{cloudfront_name}"
    assert distribution(run)["viewerCertificate"] == {"cloudfrontDefaultCertificate": True}
    assert "aliases" not in distribution(run)


def test_openwebui_knows_its_https_url(pulumi_mocks):
    run = deploy_host(pulumi_mocks)

    script = user_data(run)
    assert f"\nWEBUI_URL={run.outputs['ui_url']}\n" in script
    assert "\nWEBUI_SESSION_COOKIE_SECURE=true\n" in script
    assert "\nWEBUI_AUTH_COOKIE_SECURE=true\n" in script


def test_the_origin_is_the_host_s_elastic_ip_name_over_http(pulumi_mocks):
    run = deploy_host(pulumi_mocks)

    (origin,) = distribution(run)["origins"]
    address = run.one("aws:ec2/eip:Eip")
    # The address's name, known before the instance: the host's user data can carry the URL without a cycle.
    assert origin["domainName"] == address.state["publicDns"]
    assert origin["customOriginConfig"]["originProtocolPolicy"] == "http-only"
    assert origin["customOriginConfig"]["httpPort"] == 80
    association = run.one("aws:ec2/eipAssociation:EipAssociation")
    assert association.inputs["allocationId"] == address.state["allocationId"]
    assert "instance" not in address.inputs


def test_every_request_carries_the_origin_secret_the_host_reads_from_ssm(pulumi_mocks):
    run = deploy_host(pulumi_mocks)

    (origin,) = distribution(run)["origins"]
    (header,) = origin["customHeaders"]
    secret = next(p for p in run.of_type("random:index/randomPassword:RandomPassword") if p.name == "ui-origin-secret")
    assert header == {"name": "X-Origin-Verify", "value": secret.state["result"]}
    assert len(secret.state["result"]) >= 32
    # A secret in state and never in clear text: not in the distribution's nor the user data's.
    assert secret.state["result"] not in run.one(DISTRIBUTION).clear_text()
    assert secret.state["result"] not in user_data(run)
    parameter = next(p for p in run.of_type("aws:ssm/parameter:Parameter") if p.name == "ui-origin-secret")
    assert parameter.inputs["type"] == "SecureString"
    assert f"\nORIGIN_SECRET_PARAMETER={parameter.inputs['name']}\n" in user_data(run)


def test_nothing_is_cached_and_every_method_websockets_included_reaches_the_host(pulumi_mocks):
    behaviour = distribution(deploy_host(pulumi_mocks))["defaultCacheBehavior"]

    assert behaviour["cachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # Managed-CachingDisabled
    # Managed-AllViewerExceptHostHeader: cookies, query strings and the WebSocket handshake headers pass.
    assert behaviour["originRequestPolicyId"] == "b689b0a8-53d0-40ab-baf2-68738e2966ac"
    assert sorted(behaviour["allowedMethods"]) == sorted(["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"])
    assert behaviour["viewerProtocolPolicy"] == "redirect-to-https"
    assert "orderedCacheBehaviors" not in distribution(deploy_host(pulumi_mocks))


def test_every_answer_carries_hsts_and_the_usual_security_headers(pulumi_mocks):
    behaviour = distribution(deploy_host(pulumi_mocks))["defaultCacheBehavior"]

    # Managed-SecurityHeadersPolicy: HSTS, nosniff, X-Frame-Options SAMEORIGIN, a referrer policy, and no
    # Content-Security-Policy that could block OpenWebUI's inline scripts.
    assert behaviour["responseHeadersPolicyId"] == "67f7725c-6f97-4210-82d7-5512b31e9d03"
    members = botocore.session.get_session().get_service_model("cloudfront").shape_for("DefaultCacheBehavior").members
    assert "ResponseHeadersPolicyId" in members  # the field CloudFront's API reads it from


def test_the_ui_port_admits_cloudfront_s_origin_facing_servers_only(pulumi_mocks):
    run = deploy_host(pulumi_mocks, {"uiAllowedCidr": "0.0.0.0/0"})

    (lookup,) = [c for c in pulumi_mocks.mocks.calls if c.token == "aws:ec2/getManagedPrefixList:getManagedPrefixList"]
    assert lookup.args["name"] == "com.amazonaws.global.cloudfront.origin-facing"
    assert ingress(run) == {80: "pl-3b927c52"}
    for rule in run.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
        assert rule.inputs.get("cidrIpv4") != "0.0.0.0/0"
        assert "cidrIpv6" not in rule.inputs


def test_a_narrow_allowed_cidr_puts_a_waf_in_front_that_admits_only_it(pulumi_mocks):
    run = deploy_host(pulumi_mocks, {"uiAllowedCidr": "203.0.113.0/24"})

    ip_set = run.one(IP_SET).inputs
    assert ip_set["addresses"] == ["203.0.113.0/24"]
    assert ip_set["scope"] == "CLOUDFRONT"
    acl = run.one(WEB_ACL)
    assert acl.inputs["scope"] == "CLOUDFRONT"
    assert acl.inputs["region"] == "us-east-1" == ip_set["region"]  # where CloudFront's web ACLs live
    assert acl.inputs["defaultAction"] == {"block": {}}
    (rule,) = acl.inputs["rules"]
    assert rule["action"] == {"allow": {}}
    assert rule["statement"]["ipSetReferenceStatement"]["arn"] == run.one(IP_SET).state["arn"]
    assert distribution(run)["webAclId"] == acl.state["arn"]


def test_behind_the_ipv4_only_waf_the_distribution_has_no_ipv6_address(pulumi_mocks):
    # uiAllowedCidr is IPv4: a dual-stack browser in that range would reach CloudFront over IPv6 and be blocked.
    assert distribution(deploy_host(pulumi_mocks, {"uiAllowedCidr": "203.0.113.0/24"}))["isIpv6Enabled"] is False


def test_open_to_all_the_distribution_answers_ipv6_too(pulumi_mocks):
    assert distribution(deploy_host(pulumi_mocks, {"uiAllowedCidr": "0.0.0.0/0"}))["isIpv6Enabled"] is True


def test_an_allowed_cidr_of_the_whole_internet_needs_no_waf(pulumi_mocks):
    run = deploy_host(pulumi_mocks, {"uiAllowedCidr": "0.0.0.0/0"})

    assert run.of_type(WEB_ACL) == []
    assert run.of_type(IP_SET) == []
    assert "webAclId" not in distribution(run)


def test_a_custom_domain_gets_its_certificate_and_becomes_the_ui_url(pulumi_mocks):
    run = deploy_host(pulumi_mocks, CUSTOM_DOMAIN)

    assert run.outputs["ui_url"] == "https://chat.example.com"
    assert distribution(run)["aliases"] == ["chat.example.com"]
    assert distribution(run)["viewerCertificate"] == {
        "acmCertificateArn": CERTIFICATE,
        "sslSupportMethod": "sni-only",
        "minimumProtocolVersion": "TLSv1.2_2021",
    }
    assert "\nWEBUI_URL=https://chat.example.com\n" in user_data(run)


@pytest.mark.parametrize("config", [{}, CUSTOM_DOMAIN], ids=["cloudfront-name", "custom-domain"])
def test_the_whole_program_exports_an_https_ui_url(run_program, config):
    run = run_program({"modelId": "distilgpt2", **config})

    assert run.outputs["uiUrl"].startswith("https://")
    assert f"\nWEBUI_URL={run.outputs['uiUrl']}\n" in user_data(run)
