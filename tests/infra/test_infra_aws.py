"""AWS resources of the dev and prod stacks: encryption, HA, protection, private networking."""

from __future__ import annotations

from infra_harness import StackRun


def test_vpc_spans_three_azs_with_nat_per_az_in_prod(dev: StackRun, prod: StackRun) -> None:
    for run in (dev, prod):
        subnets = run.of_type("aws:ec2/subnet:Subnet")
        assert len({s.inputs["availabilityZone"] for s in subnets}) == 3
        assert all(s.inputs["mapPublicIpOnLaunch"] is False for s in subnets)
    assert len(prod.of_type("aws:ec2/natGateway:NatGateway")) == 3
    assert len(dev.of_type("aws:ec2/natGateway:NatGateway")) == 1


def test_eks_encrypts_secrets_logs_everything_and_has_oidc(aws_stack: StackRun) -> None:
    eks = aws_stack.one("aws:eks/cluster:Cluster")
    assert eks.inputs["encryptionConfig"]["resources"] == ["secrets"]
    assert set(eks.inputs["enabledClusterLogTypes"]) == {"api", "audit", "authenticator", "controllerManager",
                                                         "scheduler"}
    assert eks.inputs["version"] == aws_stack.config.cluster.version
    assert aws_stack.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider").inputs["clientIdLists"] == [
        "sts.amazonaws.com"]
    groups = aws_stack.of_type("aws:eks/nodeGroup:NodeGroup")
    assert groups and all(len(g.inputs["subnetIds"]) == 3 for g in groups)
    cni = [a for a in aws_stack.of_type("aws:eks/addon:Addon") if a.inputs["addonName"] == "vpc-cni"]
    assert '"enableNetworkPolicy": "true"' in cni[0].inputs["configurationValues"]


def test_database_is_private_encrypted_pg16(aws_stack: StackRun) -> None:
    db = aws_stack.one("aws:rds/instance:Instance")
    assert db.inputs["engine"] == "postgres" and db.inputs["engineVersion"].startswith("16")
    assert db.inputs["storageEncrypted"] is True and db.inputs["publiclyAccessible"] is False
    assert db.inputs["performanceInsightsEnabled"] is True
    group = aws_stack.one("aws:rds/parameterGroup:ParameterGroup")
    params = {p["name"]: p["value"] for p in group.inputs["parameters"]}
    assert params["rds.force_ssl"] == "1" and int(params["maintenance_work_mem"]) >= 256 * 1024


def test_prod_database_is_multi_az_protected_with_30_day_backups(prod: StackRun, dev: StackRun) -> None:
    db = prod.one("aws:rds/instance:Instance")
    assert db.inputs["multiAz"] is True and db.inputs["deletionProtection"] is True
    assert db.inputs["backupRetentionPeriod"] == 30 and db.inputs["skipFinalSnapshot"] is False
    assert db.protect
    dev_db = dev.one("aws:rds/instance:Instance")
    assert dev_db.inputs["multiAz"] is False and not dev_db.protect


def test_cache_tls_auth_noeviction_and_failover_in_prod(aws_stack: StackRun) -> None:
    redis = aws_stack.one("aws:elasticache/replicationGroup:ReplicationGroup")
    assert redis.inputs["transitEncryptionEnabled"] is True and redis.inputs["atRestEncryptionEnabled"] is True
    assert "authToken" in redis.raw and redis.raw["authToken"] != redis.inputs["authToken"]  # sent as a secret
    params = aws_stack.one("aws:elasticache/parameterGroup:ParameterGroup").inputs["parameters"]
    assert {"name": "maxmemory-policy", "value": "noeviction"} in params
    ha = aws_stack.config.is_prod
    assert redis.inputs["automaticFailoverEnabled"] is ha and redis.inputs["multiAzEnabled"] is ha
    assert redis.protect is ha


def test_data_stores_admit_only_the_cluster(aws_stack: StackRun) -> None:
    for suffix in ("db-sg", "cache-sg"):
        sg = aws_stack.one("aws:ec2/securityGroup:SecurityGroup", suffix)
        (rule,) = sg.inputs["ingress"]
        assert rule["securityGroups"] == ["sg-" + aws_stack.one("aws:eks/cluster:Cluster").name]
        assert "cidrBlocks" not in rule


def test_bucket_versioned_kms_private_with_lifecycle(aws_stack: StackRun) -> None:
    assert all(v.inputs["versioningConfiguration"]["status"] == "Enabled"
               for v in aws_stack.of_type("aws:s3/bucketVersioning:BucketVersioning"))
    sse = aws_stack.of_type("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    assert all(s.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms" for s in sse)
    blocks = aws_stack.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert len(blocks) == len(aws_stack.of_type("aws:s3/bucket:Bucket"))
    lifecycle = aws_stack.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "storage-lifecycle")
    assert any("noncurrentVersionExpiration" in r for r in lifecycle.inputs["rules"])
    policy = aws_stack.of_type("aws:s3/bucketPolicy:BucketPolicy")[0].inputs["policy"]
    assert "aws:SecureTransport" in policy


def test_prod_replicates_bucket_to_another_region(prod: StackRun, dev: StackRun) -> None:
    replications = prod.of_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig")
    assert {r.name for r in replications} == {"trellis-prod-storage-replication",
                                              "trellis-prod-storage-backups-replication"}  # app data and dumps
    assert all(r.inputs["rules"][0]["status"] == "Enabled" for r in replications)
    replica = [b for b in prod.of_type("aws:s3/bucket:Bucket") if "replica" in b.name]
    assert len(replica) == 2 and all(b.inputs["region"] == prod.config.storage.replica_region for b in replica)
    assert all(b.protect for b in prod.of_type("aws:s3/bucket:Bucket"))
    assert not dev.of_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig")


def test_kms_keys_rotate(aws_stack: StackRun) -> None:
    keys = aws_stack.of_type("aws:kms/key:Key")
    assert len(keys) >= 4 and all(k.inputs["enableKeyRotation"] is True for k in keys)


def test_only_declared_provider_functions_are_called(dev: StackRun, prod: StackRun) -> None:
    base = {"aws:index/getAvailabilityZones:getAvailabilityZones", "aws:ec2/getManagedPrefixList:getManagedPrefixList",
            # the ALB the controller made for the Ingress (monitoring's widgets and alarms)
            "aws:lb/getLoadBalancer:getLoadBalancer", "aws:lb/getTargetGroup:getTargetGroup"}
    assert set(dev.calls) == base
    assert set(prod.calls) == base | {"aws:ecr/getImage:getImage"}  # layered: the app layer pins the digest
