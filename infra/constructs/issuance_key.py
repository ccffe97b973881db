"""The issuing CA's private key in AWS KMS, with a key policy written out in full.

The default key policy ("the account may do anything") would let any IAM policy in the
account grant kms:Sign, i.e. issue certificates as the CA. This one names who may sign
and leaves the account only the administration CloudFormation needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

# What the account root may do with the CA key: administer it (CloudFormation needs
# PutKeyPolicy to update the stack), never use it. No kms:CreateGrant either: a grant
# would hand kms:Sign to anyone; no Get* wildcard, which would include GetPublicKey.
KEY_ADMIN_ACTIONS: Final = (
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListKeyPolicies",
    "kms:ListResourceTags",
    "kms:ListGrants",
    "kms:ListAliases",
    "kms:PutKeyPolicy",
    "kms:UpdateKeyDescription",
    "kms:EnableKey",
    "kms:DisableKey",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:CreateAlias",
    "kms:UpdateAlias",
    "kms:DeleteAlias",
    "kms:RevokeGrant",
    "kms:RetireGrant",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
)


def ca_key(
    scope: Construct, signers: Sequence[iam.IRole], ceremony_role_arns: Sequence[str]
) -> kms.Key:
    """The issuing CA's private key (ECC P-256, never leaves KMS).

    Its certificate is made once, outside CloudFormation: with this stack deployed,
    ``certsight ca init --issuing-kms-key <CaKeyArn output> --kms-region <region>
    --base-url <the validation CDN's URL>`` (run under a role named in
    ``ca_ceremony_role_arns``) has the offline root certify the key's public key and
    writes ca.json naming the key; that pki/ folder, without its keys, is the stack's
    ``pki_bundle``. The policy is explicit: only the function roles (and a ceremony
    role, while one is named) may sign; the account may administer the key but not use
    it, so no IAM policy in the account can grant signing as the CA."""
    principals: list[iam.IPrincipal] = [*signers]
    principals += [iam.ArnPrincipal(arn) for arn in ceremony_role_arns]
    policy = iam.PolicyDocument(
        statements=[
            iam.PolicyStatement(
                sid="AdministerNotUse",
                principals=[iam.AccountRootPrincipal()],
                actions=list(KEY_ADMIN_ACTIONS),
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="SignAsTheIssuingCa",
                principals=principals,
                actions=["kms:Sign"],
                resources=["*"],
                conditions={"StringEquals": {"kms:SigningAlgorithm": "ECDSA_SHA_256"}},
            ),
            iam.PolicyStatement(
                sid="ReadThePublicKey",
                principals=principals,
                actions=["kms:GetPublicKey"],
                resources=["*"],
            ),
        ]
    )
    return kms.Key(
        scope,
        "CaKey",
        description="certsight issuing CA key (signs certificates and CRLs)",
        key_spec=kms.KeySpec.ECC_NIST_P256,
        key_usage=kms.KeyUsage.SIGN_VERIFY,
        policy=policy,
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )
