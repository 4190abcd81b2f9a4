"""Kafka users (SCRAM-SHA-512 credentials) and ACLs, through the admin API.

The broker runs the standard authorizer with deny-by-default (``broker.security: scram``), so a
user reads a transfer topic only once granted: READ on the data, ``_schema`` and ``_manifest``
topics and on the user's consumer group. The service's own user is a super user and needs no
ACL. These helpers are the base of per-user isolation; they speak to any Kafka 3.x/4.x cluster.
"""

from __future__ import annotations

from engine.errors import UserError

SCRAM_ITERATIONS = 8192


def _admin(admin_conf: dict):
    from confluent_kafka.admin import AdminClient
    return AdminClient({**admin_conf, "log_level": 0})


def _wait(futures, what: str, timeout: float) -> None:
    from confluent_kafka import KafkaException

    for fut in (futures.values() if isinstance(futures, dict) else futures):
        try:
            fut.result(timeout=timeout)
        except KafkaException as exc:
            raise UserError(f"could not {what}: {exc.args[0].str() if exc.args else exc}") from exc


def upsert_user(admin_conf: dict, user: str, password: str, timeout: float = 10.0) -> None:
    """Create the user's SCRAM-SHA-512 credential, or change its password."""
    from confluent_kafka.admin import ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

    if not user or not password:
        raise UserError("a Kafka user needs a name and a password")
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
    client = _admin(admin_conf)  # must outlive its futures
    _wait(client.alter_user_scram_credentials(
        [UserScramCredentialUpsertion(user, info, password.encode())], request_timeout=timeout),
        f"store the credentials of {user}", timeout)


def delete_user(admin_conf: dict, user: str, timeout: float = 10.0) -> None:
    from confluent_kafka.admin import ScramMechanism, UserScramCredentialDeletion

    client = _admin(admin_conf)
    _wait(client.alter_user_scram_credentials(
        [UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_512)], request_timeout=timeout),
        f"delete the credentials of {user}", timeout)


def transfer_topics(topic: str) -> list[str]:
    """The three topics one transfer consists of (data, schema, manifest)."""
    from kafka_io.topics import manifest_topic, schema_topic
    return [topic, schema_topic(topic), manifest_topic(topic)]


def _bindings(user: str, topic: str, operations, group: str | None):
    from confluent_kafka.admin import AclBinding, AclPermissionType, ResourcePatternType, ResourceType

    principal = f"User:{user}"
    out = [AclBinding(ResourceType.TOPIC, name, ResourcePatternType.LITERAL, principal, "*", op,
                      AclPermissionType.ALLOW)
           for name in transfer_topics(topic) for op in operations]
    if group:
        from confluent_kafka.admin import AclOperation
        out.append(AclBinding(ResourceType.GROUP, group, ResourcePatternType.LITERAL, principal, "*",
                              AclOperation.READ, AclPermissionType.ALLOW))
    return out


def grant_read(admin_conf: dict, user: str, topic: str, group: str | None = None, timeout: float = 10.0) -> None:
    """Let ``user`` consume ``topic`` (and its schema/manifest topics), with consumer group ``group``."""
    from confluent_kafka.admin import AclOperation

    client = _admin(admin_conf)
    _wait(client.create_acls(_bindings(user, topic, [AclOperation.READ, AclOperation.DESCRIBE], group),
                                         request_timeout=timeout), f"grant {user} read access to {topic}", timeout)


def grant_write(admin_conf: dict, user: str, topic: str, timeout: float = 10.0) -> None:
    """Let ``user`` create and publish ``topic`` (a job's service principal)."""
    from confluent_kafka.admin import AclOperation

    ops = [AclOperation.WRITE, AclOperation.CREATE, AclOperation.DESCRIBE]
    client = _admin(admin_conf)
    _wait(client.create_acls(_bindings(user, topic, ops, None), request_timeout=timeout),
          f"grant {user} write access to {topic}", timeout)


def revoke(admin_conf: dict, user: str, topic: str, timeout: float = 10.0) -> None:
    """Remove every ACL of ``user`` on the transfer's topics."""
    from confluent_kafka.admin import (AclBindingFilter, AclOperation, AclPermissionType, ResourcePatternType,
                                       ResourceType)

    filters = [AclBindingFilter(ResourceType.TOPIC, name, ResourcePatternType.LITERAL, f"User:{user}", None,
                                AclOperation.ANY, AclPermissionType.ANY) for name in transfer_topics(topic)]
    client = _admin(admin_conf)
    _wait(client.delete_acls(filters, request_timeout=timeout), f"revoke {user} on {topic}", timeout)


def readers(admin_conf: dict, topic: str, timeout: float = 10.0) -> set[str]:
    """Users allowed to READ the data topic."""
    from confluent_kafka.admin import (AclBindingFilter, AclOperation, AclPermissionType, ResourcePatternType,
                                       ResourceType)

    flt = AclBindingFilter(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, None, None,
                           AclOperation.READ, AclPermissionType.ALLOW)
    from confluent_kafka import KafkaException
    try:
        client = _admin(admin_conf)
        found = client.describe_acls(flt, request_timeout=timeout).result(timeout=timeout)
    except KafkaException as exc:
        raise UserError(f"could not list the ACLs of {topic}: {exc.args[0].str()}") from exc
    return {b.principal.removeprefix("User:") for b in found}


def grant_group_prefix(admin_conf: dict, user: str, prefix: str, timeout: float = 10.0) -> None:
    """Let ``user`` use every consumer group whose id starts with ``prefix`` (PREFIXED ACL): its
    own group and the ``<group>_schema`` one the official client derives from it."""
    from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, ResourcePatternType,
                                       ResourceType)

    binding = AclBinding(ResourceType.GROUP, prefix, ResourcePatternType.PREFIXED, f"User:{user}", "*",
                         AclOperation.READ, AclPermissionType.ALLOW)
    client = _admin(admin_conf)
    _wait(client.create_acls([binding], request_timeout=timeout), f"grant {user} its consumer groups", timeout)


def revoke_user(admin_conf: dict, user: str, timeout: float = 10.0) -> None:
    """Remove every ACL of ``user`` (topics and groups), when the account is removed."""
    from confluent_kafka.admin import (AclBindingFilter, AclOperation, AclPermissionType, ResourcePatternType,
                                       ResourceType)

    flt = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, f"User:{user}", None,
                           AclOperation.ANY, AclPermissionType.ANY)
    client = _admin(admin_conf)
    _wait(client.delete_acls([flt], request_timeout=timeout), f"revoke the ACLs of {user}", timeout)
