"""IAM policy documents of the cluster add-ons that call AWS: the node autoscaler, the AWS Load Balancer
Controller and Fluent Bit. Pure functions returning JSON; the roles are made with ``infra.irsa``.

Mutating actions are scoped by resource tags where AWS supports it: the autoscaler may only resize
Auto Scaling groups EKS tagged as this cluster's, the load balancer controller may only change load
balancers, target groups and security groups it created for this cluster.
"""

from __future__ import annotations

from infra.iam import policy_document

__all__ = ["cluster_autoscaler_policy", "load_balancer_controller_policy", "log_shipper_policy"]


def cluster_autoscaler_policy(cluster_name: str) -> str:
    """Read every Auto Scaling group; resize or shrink only the ones EKS tagged as ``cluster_name``'s."""
    return policy_document([
        {"Effect": "Allow", "Resource": "*", "Action": [
            "autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
            "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities",
            "autoscaling:DescribeTags", "ec2:DescribeImages", "ec2:DescribeInstanceTypes",
            "ec2:DescribeLaunchTemplateVersions", "ec2:GetInstanceTypesFromInstanceRequirements",
            "eks:DescribeNodegroup"]},
        {"Effect": "Allow", "Resource": "*",
         "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
         "Condition": {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}}},
    ])


_CLUSTER_TAG = "elbv2.k8s.aws/cluster"


def load_balancer_controller_policy() -> str:
    """What the AWS Load Balancer Controller needs to run ALBs for Ingresses: describe the network, certificates
    and WAF; create load balancers and security groups tagged with the cluster tag; change only tagged ones."""
    tagged = {"Null": {f"aws:ResourceTag/{_CLUSTER_TAG}": "false"}}
    tagging_on_create = {"Null": {f"aws:RequestTag/{_CLUSTER_TAG}": "false"}}
    return policy_document([
        {"Effect": "Allow", "Action": "iam:CreateServiceLinkedRole", "Resource": "*",
         "Condition": {"StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}}},
        {"Effect": "Allow", "Resource": "*", "Action": [
            "ec2:DescribeAccountAttributes", "ec2:DescribeAddresses", "ec2:DescribeAvailabilityZones",
            "ec2:DescribeInternetGateways", "ec2:DescribeVpcs", "ec2:DescribeVpcPeeringConnections",
            "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeInstances",
            "ec2:DescribeNetworkInterfaces", "ec2:DescribeTags", "ec2:DescribeCoipPools",
            "ec2:GetCoipPoolUsage", "ec2:DescribeIpamPools", "ec2:GetSecurityGroupsForVpc",
            "ec2:DescribeRouteTables", "elasticloadbalancing:Describe*",
            "acm:ListCertificates", "acm:DescribeCertificate", "iam:ListServerCertificates",
            "iam:GetServerCertificate", "cognito-idp:DescribeUserPoolClient",
            "wafv2:GetWebACL", "wafv2:GetWebACLForResource", "wafv2:AssociateWebACL",
            "wafv2:DisassociateWebACL", "waf-regional:GetWebACLForResource", "waf-regional:GetWebACL",
            "waf-regional:AssociateWebACL", "waf-regional:DisassociateWebACL",
            "shield:GetSubscriptionState", "shield:DescribeProtection", "shield:CreateProtection",
            "shield:DeleteProtection"]},
        {"Effect": "Allow", "Resource": "*", "Action": "ec2:CreateSecurityGroup"},
        {"Effect": "Allow", "Resource": "arn:aws:ec2:*:*:security-group/*", "Action": "ec2:CreateTags",
         "Condition": {"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}, **tagging_on_create}},
        {"Effect": "Allow", "Resource": "arn:aws:ec2:*:*:security-group/*",
         "Action": ["ec2:CreateTags", "ec2:DeleteTags"], "Condition": tagged},
        {"Effect": "Allow", "Resource": "*", "Action": [
            "ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:DeleteSecurityGroup"],
         "Condition": tagged},
        {"Effect": "Allow", "Resource": "*", "Action": [
            "elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup"],
         "Condition": tagging_on_create},
        {"Effect": "Allow", "Resource": "*", "Action": "elasticloadbalancing:AddTags", "Condition": {
            "StringEquals": {"elasticloadbalancing:CreateAction": ["CreateTargetGroup", "CreateLoadBalancer"]},
            **tagging_on_create}},
        {"Effect": "Allow", "Resource": "*", "Action": [
            "elasticloadbalancing:CreateListener", "elasticloadbalancing:DeleteListener",
            "elasticloadbalancing:CreateRule", "elasticloadbalancing:DeleteRule",
            "elasticloadbalancing:ModifyListener", "elasticloadbalancing:ModifyRule",
            "elasticloadbalancing:AddListenerCertificates", "elasticloadbalancing:RemoveListenerCertificates",
            "elasticloadbalancing:SetWebAcl"]},
        {"Effect": "Allow", "Resource": "*", "Action": [
            "elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags",
            "elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:SetIpAddressType",
            "elasticloadbalancing:SetSecurityGroups", "elasticloadbalancing:SetSubnets",
            "elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:ModifyTargetGroup",
            "elasticloadbalancing:ModifyTargetGroupAttributes", "elasticloadbalancing:DeleteTargetGroup",
            "elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"],
         "Condition": tagged},
    ])


def log_shipper_policy(log_group_arn: str) -> str:
    """Fluent Bit: create streams in and put events to one log group, nothing else."""
    return policy_document([
        {"Effect": "Allow", "Resource": [log_group_arn, f"{log_group_arn}:*"], "Action": [
            "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]},
    ])
