"""Cluster: an EKS control plane with managed node groups, built from plain ``pulumi_aws`` resources.

Owns the cluster and node IAM roles, a KMS key for envelope encryption of Secrets, the
control-plane log group, the OIDC provider used by IRSA, managed node groups in the
private subnets (their ``desiredSize`` belongs to the node autoscaler after creation), the EKS
add-ons (VPC CNI with NetworkPolicy enforcement on, CoreDNS, kube-proxy, metrics-server for the
HPAs, the EBS CSI driver for PersistentVolumes) and access entries: operator roles from config
get cluster-admin, developer roles the ``trellis:<env>:developers`` group.
Outputs: ``name``, ``oidc_provider_arn``, ``oidc_issuer``, ``security_group_id`` and
``kubeconfig`` (secret: it names the cluster endpoint and CA).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.iam import assume_role_policy, irsa_trust_policy, policy_document
from infra.specs import ClusterConfig

__all__ = ["Cluster", "ClusterArgs", "developer_group"]

_LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
_NODE_POLICIES = ["AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly"]
_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
_EBS_CSI_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"


def developer_group(environment: str) -> str:
    """The Kubernetes group a developer of ``environment`` is mapped to (bound only in that namespace)."""
    return f"trellis:{environment}:developers"


@dataclass(frozen=True)
class ClusterArgs:
    """``cluster_name`` is the fixed EKS name (subnets are tagged with it before it exists)."""

    cluster_name: str
    environment: str
    config: ClusterConfig
    private_subnet_ids: list[pulumi.Output[str]]
    public_subnet_ids: list[pulumi.Output[str]]

    def validate(self) -> None:
        if not self.private_subnet_ids:
            raise ValueError("Cluster needs private subnets")
        if self.config.problems():
            raise ValueError("; ".join(self.config.problems()))


class Cluster(pulumi.ComponentResource):
    """EKS with KMS-encrypted Secrets, full control-plane logging and IRSA."""

    name: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    oidc_issuer: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        args.validate()
        super().__init__("trellis:infra:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        key = aws.kms.Key(f"{name}-secrets", description=f"{args.cluster_name} Kubernetes Secrets",
                          enable_key_rotation=True, deletion_window_in_days=30, opts=child)
        role = aws.iam.Role(f"{name}-control-plane", assume_role_policy=assume_role_policy("eks.amazonaws.com"),
                            opts=child)
        aws.iam.RolePolicyAttachment(f"{name}-control-plane", role=role.name,
                                     policy_arn="arn:aws:iam::aws:policy/AmazonEKSClusterPolicy", opts=child)
        # The default key policy delegates to IAM, so the control plane needs these to wrap Secrets.
        aws.iam.RolePolicy(f"{name}-control-plane-kms", role=role.id, policy=key.arn.apply(lambda arn: policy_document(
            [{"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"],
              "Resource": arn}])), opts=child)
        logs = aws.cloudwatch.LogGroup(f"{name}-logs", name=f"/aws/eks/{args.cluster_name}/cluster",
                                       retention_in_days=args.config.log_retention_days, opts=child)
        cluster = aws.eks.Cluster(
            f"{name}-eks", name=args.cluster_name, role_arn=role.arn, version=args.config.version,
            vpc_config={
                "subnet_ids": args.private_subnet_ids + args.public_subnet_ids,
                "endpoint_private_access": True, "endpoint_public_access": True,
                "public_access_cidrs": list(args.config.public_access_cidrs),
            },
            encryption_config={"resources": ["secrets"], "provider": {"key_arn": key.arn}},
            enabled_cluster_log_types=_LOG_TYPES,
            access_config={"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": True},
            tags={"trellis.io/environment": args.environment},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[logs]),
        )
        self.name = cluster.name
        self.security_group_id = cluster.vpc_config.apply(lambda v: v.cluster_security_group_id)
        self.oidc_issuer = cluster.identities.apply(lambda ids: ids[0].oidcs[0].issuer)
        oidc = aws.iam.OpenIdConnectProvider(f"{name}-oidc", url=self.oidc_issuer,
                                             client_id_lists=["sts.amazonaws.com"], opts=child)
        self.oidc_provider_arn = oidc.arn
        nodes = self._node_groups(name, args, cluster, child)
        self._addons(name, cluster, nodes, self._ebs_csi_role(name, oidc.arn, self.oidc_issuer, child), child)
        self._access(name, args, cluster, child)
        # The kubeconfig carries no credential (tokens come from `aws eks get-token`), but it
        # pins the endpoint and CA, so it is still exported as a secret.
        self.kubeconfig = pulumi.Output.secret(pulumi.Output.all(
            cluster.name, cluster.endpoint, cluster.certificate_authority.apply(lambda ca: ca.data),
        ).apply(lambda v: _kubeconfig(*v)))
        self.register_outputs({"name": self.name, "oidc_provider_arn": self.oidc_provider_arn})

    @staticmethod
    def _node_groups(name: str, args: ClusterArgs, cluster: aws.eks.Cluster,
                     opts: pulumi.ResourceOptions) -> list[aws.eks.NodeGroup]:
        role = aws.iam.Role(f"{name}-nodes", assume_role_policy=assume_role_policy("ec2.amazonaws.com"), opts=opts)
        attachments = [
            aws.iam.RolePolicyAttachment(f"{name}-nodes-{p}", role=role.name,
                                         policy_arn=f"arn:aws:iam::aws:policy/{p}", opts=opts)
            for p in _NODE_POLICIES
        ]
        groups = []
        for spec in args.config.node_groups:
            groups.append(aws.eks.NodeGroup(
                f"{name}-{spec.name}", cluster_name=cluster.name, node_role_arn=role.arn,
                subnet_ids=args.private_subnet_ids, instance_types=list(spec.instance_types),
                capacity_type=spec.capacity_type, ami_type="AL2023_x86_64_STANDARD",
                scaling_config={"min_size": spec.min_size, "desired_size": spec.desired_size,
                                "max_size": spec.max_size},
                update_config={"max_unavailable": 1}, labels={"trellis.io/node-group": spec.name},
                # The node autoscaler (infra/node_autoscaler.py) owns desiredSize once the group exists; the
                # config's value is only the starting size, so a later `up` never undoes a scale-out.
                opts=pulumi.ResourceOptions(parent=opts.parent, depends_on=attachments,
                                            ignore_changes=["scalingConfig.desiredSize"]),
            ))
        return groups

    @staticmethod
    def _access(name: str, args: ClusterArgs, cluster: aws.eks.Cluster, opts: pulumi.ResourceOptions) -> None:
        for i, arn in enumerate(args.config.admin_role_arns):
            entry = aws.eks.AccessEntry(f"{name}-admin-{i}", cluster_name=cluster.name, principal_arn=arn,
                                        type="STANDARD", opts=opts)
            aws.eks.AccessPolicyAssociation(f"{name}-admin-{i}", cluster_name=cluster.name, principal_arn=arn,
                                            policy_arn=_ADMIN_POLICY, access_scope={"type": "cluster"},
                                            opts=pulumi.ResourceOptions(parent=opts.parent, depends_on=[entry]))
        for i, arn in enumerate(args.config.developer_role_arns):
            aws.eks.AccessEntry(f"{name}-developer-{i}", cluster_name=cluster.name, principal_arn=arn,
                                kubernetes_groups=[developer_group(args.environment)], type="STANDARD", opts=opts)

    @staticmethod
    def _ebs_csi_role(name: str, oidc_arn: pulumi.Input[str], issuer: pulumi.Input[str],
                      opts: pulumi.ResourceOptions) -> aws.iam.Role:
        role = aws.iam.Role(f"{name}-ebs-csi", assume_role_policy=irsa_trust_policy(
            oidc_arn, issuer, "kube-system", "ebs-csi-controller-sa"), opts=opts)
        aws.iam.RolePolicyAttachment(f"{name}-ebs-csi", role=role.name, policy_arn=_EBS_CSI_POLICY, opts=opts)
        return role

    @staticmethod
    def _addons(name: str, cluster: aws.eks.Cluster, nodes: list[aws.eks.NodeGroup], ebs_role: aws.iam.Role,
                opts: pulumi.ResourceOptions) -> None:
        # Without enableNetworkPolicy the VPC CNI ignores NetworkPolicy objects entirely. metrics-server feeds the
        # CPU HPAs (and KEDA's CPU trigger); without it they have no data and never scale.
        settings = {"vpc-cni": json.dumps({"enableNetworkPolicy": "true"}), "coredns": None, "kube-proxy": None,
                    "metrics-server": None, "aws-ebs-csi-driver": None}
        for addon, values in settings.items():
            aws.eks.Addon(f"{name}-{addon}", cluster_name=cluster.name, addon_name=addon,
                          configuration_values=values, resolve_conflicts_on_update="OVERWRITE",
                          service_account_role_arn=ebs_role.arn if addon == "aws-ebs-csi-driver" else None,
                          opts=pulumi.ResourceOptions(parent=opts.parent, depends_on=nodes))


def _kubeconfig(cluster_name: str, endpoint: str, ca_data: str) -> str:
    return json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": cluster_name,
        "clusters": [{"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
        "users": [{"name": cluster_name, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", cluster_name, "--output", "json"],
        }}}],
    })

