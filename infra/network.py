"""Network: the VPC Trellis runs in.

Owns the VPC, one public and one private subnet per AZ, the internet gateway, NAT
gateways (one per AZ when ``nat_per_az``, else one shared), route tables, an S3 gateway
endpoint and an STS interface endpoint (so IRSA token exchange stays inside the VPC).
Outputs: ``vpc_id``, ``vpc_cidr``, ``public_subnet_ids``, ``private_subnet_ids``, ``nat_gateway_ids``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

__all__ = ["Network", "NetworkArgs", "EKS_UNSUPPORTED_ZONE_IDS", "pick_zones"]

# Zone IDs (not names: names are shuffled per account) where EKS cannot place a control-plane ENI.
EKS_UNSUPPORTED_ZONE_IDS = frozenset({"use1-az3", "usw1-az2", "cac1-az3"})


def pick_zones(names: list[str], zone_ids: list[str], count: int) -> tuple[str, ...]:
    """The first ``count`` zone names whose IDs EKS supports; raises ``ValueError`` if too few remain."""
    usable = [name for name, zone_id in zip(names, zone_ids, strict=True) if zone_id not in EKS_UNSUPPORTED_ZONE_IDS]
    if len(usable) < count:
        raise ValueError(f"only {len(usable)} EKS-supported availability zones in the region, need {count}")
    return tuple(usable[:count])


@dataclass(frozen=True)
class NetworkArgs:
    """``zones`` are AZ names (the caller looks them up); ``cluster_name`` tags subnets for load balancers."""

    cidr: str
    zones: tuple[str, ...]
    nat_per_az: bool
    cluster_name: str
    region: str

    def validate(self) -> None:
        if len(self.zones) < 2:
            raise ValueError("Network needs at least two availability zones")
        ipaddress.ip_network(self.cidr)


class Network(pulumi.ComponentResource):
    """A multi-AZ VPC with private subnets for nodes and data stores."""

    vpc_id: pulumi.Output[str]
    vpc_cidr: str
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        args.validate()
        super().__init__("trellis:infra:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        vpc = aws.ec2.Vpc(
            f"{name}-vpc", cidr_block=args.cidr, enable_dns_hostnames=True, enable_dns_support=True,
            tags={"Name": f"{name}-vpc"}, opts=child,
        )
        self.vpc_id, self.vpc_cidr = vpc.id, args.cidr
        # /20 per subnet: public ones take the first len(zones) blocks, private ones the next.
        blocks = list(ipaddress.ip_network(args.cidr).subnets(new_prefix=20))
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, opts=child)
        public_rt = aws.ec2.RouteTable(
            f"{name}-public", vpc_id=vpc.id, routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": igw.id}], opts=child,
        )
        self.public_subnet_ids, self.private_subnet_ids = [], []
        private_rts: list[aws.ec2.RouteTable] = []
        nats: list[aws.ec2.NatGateway] = []
        for i, zone in enumerate(args.zones):
            public = self._subnet(f"{name}-public-{i}", vpc, blocks[i], zone, args.cluster_name, "elb", child)
            aws.ec2.RouteTableAssociation(f"{name}-public-{i}", subnet_id=public.id, route_table_id=public_rt.id,
                                          opts=child)
            if args.nat_per_az or i == 0:
                eip = aws.ec2.Eip(f"{name}-nat-{i}", domain="vpc", opts=child)
                nats.append(aws.ec2.NatGateway(f"{name}-nat-{i}", allocation_id=eip.allocation_id,
                                               subnet_id=public.id, opts=pulumi.ResourceOptions(parent=self,
                                                                                                depends_on=[igw])))
            private = self._subnet(f"{name}-private-{i}", vpc, blocks[len(args.zones) + i], zone,
                                   args.cluster_name, "internal-elb", child)
            rt = aws.ec2.RouteTable(
                f"{name}-private-{i}", vpc_id=vpc.id,
                routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nats[-1].id}], opts=child,
            )
            aws.ec2.RouteTableAssociation(f"{name}-private-{i}", subnet_id=private.id, route_table_id=rt.id,
                                          opts=child)
            private_rts.append(rt)
            self.public_subnet_ids.append(public.id)
            self.private_subnet_ids.append(private.id)
        self.nat_gateway_ids = [nat.id for nat in nats]
        self._endpoints(name, args, vpc, private_rts, child)
        self.register_outputs({"vpc_id": self.vpc_id, "private_subnet_ids": self.private_subnet_ids})

    @staticmethod
    def _subnet(name: str, vpc: aws.ec2.Vpc, block: ipaddress.IPv4Network | ipaddress.IPv6Network, zone: str,
                cluster: str, role: str, opts: pulumi.ResourceOptions) -> aws.ec2.Subnet:
        # The role tag tells the AWS load balancer integration where to place LBs.
        return aws.ec2.Subnet(
            name, vpc_id=vpc.id, cidr_block=str(block), availability_zone=zone, map_public_ip_on_launch=False,
            tags={"Name": name, f"kubernetes.io/role/{role}": "1", f"kubernetes.io/cluster/{cluster}": "shared"},
            opts=opts,
        )

    def _endpoints(self, name: str, args: NetworkArgs, vpc: aws.ec2.Vpc, private_rts: list[aws.ec2.RouteTable],
                   opts: pulumi.ResourceOptions) -> None:
        # S3 through a gateway endpoint: no NAT charges for object traffic, and backups stay private.
        aws.ec2.VpcEndpoint(
            f"{name}-s3", vpc_id=vpc.id, service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway", route_table_ids=[rt.id for rt in private_rts], opts=opts,
        )
        sg = aws.ec2.SecurityGroup(
            f"{name}-endpoints", vpc_id=vpc.id, description="HTTPS from inside the VPC to interface endpoints",
            ingress=[{"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": [args.cidr]}],
            opts=opts,
        )
        aws.ec2.VpcEndpoint(
            f"{name}-sts", vpc_id=vpc.id, service_name=f"com.amazonaws.{args.region}.sts",
            vpc_endpoint_type="Interface", private_dns_enabled=True, subnet_ids=self.private_subnet_ids,
            security_group_ids=[sg.id], opts=opts,
        )
